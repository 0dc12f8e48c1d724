package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL is where the compiler finds openapi.json; schemas are compiled by
// JSON pointer into it, so their $refs resolve inside the document.
const docURL = "https://noderemover.dev/openapi.json"

// spec is api/openapi.json, the contract every answer the tests receive is
// checked against.
type spec struct {
	raw []byte
	doc map[string]any

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	seen     map[string]bool // "METHOD TEMPLATE STATUS" answered in some test
}

var (
	specOnce sync.Once
	theSpec  *spec
	specErr  error
)

// loadSpec reads and parses openapi.json once for the package.
func loadSpec(tb testing.TB) *spec {
	tb.Helper()
	specOnce.Do(func() {
		raw, err := os.ReadFile("openapi.json")
		if err != nil {
			specErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			specErr = fmt.Errorf("openapi.json: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020) // the dialect of OpenAPI 3.1
		c.AssertFormat()
		if err := c.AddResource(docURL, doc); err != nil {
			specErr = err
			return
		}
		m, ok := doc.(map[string]any)
		if !ok {
			specErr = fmt.Errorf("openapi.json is not an object")
			return
		}
		theSpec = &spec{raw: raw, doc: m, compiler: c, schemas: map[string]*jsonschema.Schema{}, seen: map[string]bool{}}
	})
	if specErr != nil {
		tb.Fatal(specErr)
	}
	return theSpec
}

// pointer escapes one JSON pointer token.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// at resolves a JSON pointer in the document; ok is false when nothing is there.
func (s *spec) at(ptr string) (any, bool) {
	var v any = s.doc
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch cur := v.(type) {
		case map[string]any:
			next, ok := cur[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(cur) {
				return nil, false
			}
			v = cur[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// follow resolves an OpenAPI Reference Object: the pointer of what ptr
// holds, or of what its $ref names.
func (s *spec) follow(tb testing.TB, ptr string) string {
	tb.Helper()
	for range 10 {
		v, ok := s.at(ptr)
		if !ok {
			tb.Fatalf("openapi.json has nothing at %s", ptr)
		}
		m, _ := v.(map[string]any)
		ref, isRef := m["$ref"].(string)
		if !isRef {
			return ptr
		}
		if !strings.HasPrefix(ref, "#/") {
			tb.Fatalf("openapi.json: %s refers outside the document: %s", ptr, ref)
		}
		ptr = strings.TrimPrefix(ref, "#")
	}
	tb.Fatalf("openapi.json: $ref chain too long at %s", ptr)
	return ""
}

// schema compiles the schema at ptr.
func (s *spec) schema(tb testing.TB, ptr string) *jsonschema.Schema {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch
	}
	sch, err := s.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		tb.Fatalf("compile %s: %v", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch
}

// validate checks value (decoded with jsonschema.UnmarshalJSON) against the
// schema at ptr.
func (s *spec) validate(tb testing.TB, ptr string, value any) error {
	tb.Helper()
	return s.schema(tb, ptr).Validate(value)
}

// operations lists "METHOD TEMPLATE" for every operation in paths.
func (s *spec) operations() []string {
	var out []string
	paths, _ := s.doc["paths"].(map[string]any)
	for tmpl, item := range paths {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, strings.ToUpper(method)+" "+tmpl)
			}
		}
	}
	sort.Strings(out)
	return out
}

// template finds the documented path template that path matches.
func (s *spec) template(path string) (string, bool) {
	paths, _ := s.doc["paths"].(map[string]any)
	segs := strings.Split(path, "/")
	for tmpl := range paths {
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		match := true
		for i, t := range tsegs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				match = match && segs[i] != ""
			} else {
				match = match && t == segs[i]
			}
		}
		if match {
			return tmpl, true
		}
	}
	return "", false
}

// check holds one answer to the document: its status is documented for the
// operation (404 and 405 for paths and methods the document does not have),
// its headers documented for that status are there, and its body validates
// against the schema documented for its status and content type.
func (s *spec) check(tb testing.TB, method, path string, a *answer) {
	tb.Helper()
	tmpl, ok := s.template(path)
	var respPtr string
	switch {
	case !ok:
		if a.status != http.StatusNotFound {
			tb.Errorf("%s %s: no such path in openapi.json, but the answer is %d, not 404", method, path, a.status)
		}
		respPtr = s.follow(tb, "/components/responses/NotFound")
	default:
		opMethod := strings.ToLower(method)
		if method == http.MethodHead {
			opMethod = "get"
		}
		opPtr := pointer("paths", tmpl, opMethod)
		if _, ok := s.at(opPtr); !ok {
			if a.status != http.StatusMethodNotAllowed {
				tb.Errorf("%s %s: openapi.json has no %s on %s, but the answer is %d, not 405", method, path, method, tmpl, a.status)
			}
			respPtr = s.follow(tb, "/components/responses/MethodNotAllowed")
			break
		}
		code := strconv.Itoa(a.status)
		if _, ok := s.at(opPtr + pointer("responses", code)); !ok {
			tb.Errorf("%s %s answered %d, which openapi.json does not document for %s %s", method, path, a.status, strings.ToUpper(opMethod), tmpl)
			return
		}
		s.mu.Lock()
		s.seen[strings.ToUpper(opMethod)+" "+tmpl+" "+code] = true
		s.mu.Unlock()
		respPtr = s.follow(tb, opPtr+pointer("responses", code))
	}
	if hs, ok := s.at(respPtr + "/headers"); ok {
		for name, h := range hs.(map[string]any) {
			if m, ok := h.(map[string]any); ok && m["required"] == false {
				continue // documented as sometimes there
			}
			if a.header.Get(name) == "" {
				tb.Errorf("%s %s %d: documented header %s is missing", method, path, a.status, name)
			}
		}
	}
	if method == http.MethodHead {
		return
	}
	ct := a.header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		tb.Errorf("%s %s %d: Content-Type %q: %v", method, path, a.status, ct, err)
		return
	}
	content, _ := s.at(respPtr + "/content")
	if _, ok := content.(map[string]any)[mt]; !ok {
		tb.Errorf("%s %s %d: Content-Type %s is not documented at %s", method, path, a.status, mt, respPtr)
		return
	}
	var value any = string(a.body)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		value, err = jsonschema.UnmarshalJSON(bytes.NewReader(a.body))
		if err != nil {
			tb.Errorf("%s %s %d: body is not JSON: %v\n%s", method, path, a.status, err, a.body)
			return
		}
	}
	if err := s.validate(tb, respPtr+pointer("content", mt, "schema"), value); err != nil {
		tb.Errorf("%s %s %d: body does not match openapi.json:\n%v\nbody: %s", method, path, a.status, err, a.body)
	}
}

// documented lists "METHOD TEMPLATE STATUS" for every documented response.
func (s *spec) documented() []string {
	var out []string
	for _, op := range s.operations() {
		method, tmpl, _ := strings.Cut(op, " ")
		rs, _ := s.at(pointer("paths", tmpl, strings.ToLower(method), "responses"))
		for code := range rs.(map[string]any) {
			out = append(out, op+" "+code)
		}
	}
	sort.Strings(out)
	return out
}

// unseen lists the documented responses no test received.
func (s *spec) unseen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.documented() {
		if !s.seen[d] {
			out = append(out, d)
		}
	}
	return out
}

// jsonValue decodes raw JSON the way the validator wants it.
func jsonValue(tb testing.TB, v any) any {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
