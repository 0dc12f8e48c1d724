package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/api"
	"github.com/noderemover/noderemover/internal/httpserver"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/removal"
)

var redistestAppendOnly = redistest.Options{AppendOnly: true}

// TestOpenAPIDocument checks the document on its own: OpenAPI 3.1, every
// $ref resolves, operations are named once, path parameters are declared,
// its examples are valid, and it is what the API serves.
func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if v, _ := s.doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Fatalf(`"openapi": %q, want 3.1.x`, v)
	}
	if _, ok := s.at("/components/securitySchemes/bearerAuth"); !ok {
		t.Error("no bearer security scheme")
	}
	for _, name := range []string{"Request", "Status", "Node", "Problem", "List"} {
		if _, ok := s.at(pointer("components", "schemas", name)); !ok {
			t.Errorf("components/schemas/%s is missing", name)
		}
	}

	// Every $ref points at something.
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, found := s.at(strings.TrimPrefix(ref, "#")); !strings.HasPrefix(ref, "#/") || !found {
					t.Errorf("%s: $ref %s resolves to nothing", ptr, ref)
				}
			}
			for k, e := range v {
				walk(ptr+pointer(k), e)
			}
		case []any:
			for i, e := range v {
				walk(ptr+"/"+strconv.Itoa(i), e)
			}
		}
	}
	walk("", s.doc)

	ids := map[string]string{}
	for _, op := range s.operations() {
		method, tmpl, _ := strings.Cut(op, " ")
		opPtr := pointer("paths", tmpl, strings.ToLower(method))
		id, _ := s.at(opPtr + "/operationId")
		if id == nil || ids[id.(string)] != "" {
			t.Errorf("%s: operationId %v missing or used twice", op, id)
		} else {
			ids[id.(string)] = op
		}
		// Path parameters of the template are declared, on the path or the operation.
		var declared []string
		for _, where := range []string{pointer("paths", tmpl, "parameters"), opPtr + "/parameters"} {
			ps, _ := s.at(where)
			list, _ := ps.([]any)
			for i := range list {
				p, _ := s.at(s.follow(t, where+"/"+strconv.Itoa(i)))
				if pm := p.(map[string]any); pm["in"] == "path" {
					declared = append(declared, pm["name"].(string))
				}
			}
		}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(tmpl, -1) {
			if !slices.Contains(declared, m[1]) {
				t.Errorf("%s: path parameter %s is not declared", op, m[1])
			}
		}
		// Every error answer of an operation is a problem.
		rs, _ := s.at(opPtr + "/responses")
		for code := range rs.(map[string]any) {
			if code >= "400" && !strings.HasPrefix(tmpl, "/readyz") {
				c, _ := s.at(s.follow(t, opPtr+pointer("responses", code)) + "/content")
				if _, ok := c.(map[string]any)["application/problem+json"]; !ok {
					t.Errorf("%s %s is not application/problem+json", op, code)
				}
			}
		}
	}

	// Examples are valid: the request bodies against Request, the problem
	// examples against their responses' schemas, schema examples against
	// their schemas.
	checkExamples := func(mediaPtr string) {
		ex, _ := s.at(mediaPtr + "/examples")
		for name, e := range ex.(map[string]any) {
			if err := s.validate(t, mediaPtr+"/schema", jsonValue(t, e.(map[string]any)["value"])); err != nil {
				t.Errorf("example %s at %s: %v", name, mediaPtr, err)
			}
		}
	}
	reqMedia := pointer("paths", "/v1/removals", "post", "requestBody", "content", "application/json")
	if ex, _ := s.at(reqMedia + "/examples"); len(ex.(map[string]any)) == 0 {
		t.Error("the request body has no examples")
	}
	checkExamples(reqMedia)
	for _, op := range s.operations() {
		method, tmpl, _ := strings.Cut(op, " ")
		rs, _ := s.at(pointer("paths", tmpl, strings.ToLower(method), "responses"))
		for code := range rs.(map[string]any) {
			rp := s.follow(t, pointer("paths", tmpl, strings.ToLower(method), "responses", code))
			content, _ := s.at(rp + "/content")
			for mt, media := range content.(map[string]any) {
				if _, ok := media.(map[string]any)["examples"]; ok {
					checkExamples(rp + pointer("content", mt))
				}
			}
		}
	}
	schemas, _ := s.at("/components/schemas")
	for name, sch := range schemas.(map[string]any) {
		exs, _ := sch.(map[string]any)["examples"].([]any)
		for _, e := range exs {
			if err := s.validate(t, pointer("components", "schemas", name), e); err != nil {
				t.Errorf("example of %s: %v", name, err)
			}
		}
	}

	// The API serves this very document, without a token.
	h := newHarness(t, harnessOptions{})
	a := h.do(http.MethodGet, "/v1/openapi.json", "", noAuth)
	if a.status != 200 || !bytes.Equal(a.body, s.raw) || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /v1/openapi.json: %d %s, %d bytes", a.status, a.header.Get("Content-Type"), len(a.body))
	}
	if !json.Valid(a.body) {
		t.Error("served document is not JSON")
	}
}

// TestOpenAPIRoutesMatchHandler: the document has exactly the handler's
// routes; methods it does not document answer 405 and other paths 404.
func TestOpenAPIRoutesMatchHandler(t *testing.T) {
	s := loadSpec(t)
	var routes []string
	for _, r := range api.Routes() {
		method, pattern, _ := strings.Cut(r, " ")
		routes = append(routes, method+" "+pattern)
	}
	sort.Strings(routes)
	if ops := s.operations(); !slices.Equal(ops, routes) {
		t.Errorf("openapi.json operations\n  %v\nhandler routes\n  %v", ops, routes)
	}

	h := newHarness(t, harnessOptions{})
	paths, _ := s.doc["paths"].(map[string]any)
	for tmpl, item := range paths {
		path := strings.ReplaceAll(tmpl, "{id}", "some-id")
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			if _, documented := item.(map[string]any)[strings.ToLower(method)]; documented {
				continue
			}
			// The spec check inside do fails the test unless this is 405.
			if a := h.do(method, path, ""); a.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, a.status)
			}
		}
	}
	for _, path := range []string{"/", "/v1", "/v1/removals/x/y", "/v1/removals/", "/metrics"} {
		if a := h.do(http.MethodGet, path, ""); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, a.status)
		}
	}
}

func TestServerLimits(t *testing.T) {
	srv := api.NewServer(http.NotFoundHandler(), httpserver.Limits{}, zerolog.Nop())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("unset limits: %+v", srv)
	}
	if srv.WriteTimeout != 0 {
		t.Errorf("WriteTimeout %v would cut streamed answers (GET /v1/events, ?wait=)", srv.WriteTimeout)
	}
}

// TestOpenAPIPasswordIsCCEs: the password schema says what JSON Schema can
// of CCE's rule, the length and the characters (the kinds a password mixes
// and the user name in it are the server's to check): it refuses what
// removal.CheckPassword refuses for those and takes what it takes.
func TestOpenAPIPasswordIsCCEs(t *testing.T) {
	s := loadSpec(t)
	ptr := pointer("components", "schemas", "Request", "properties", "password")
	for _, good := range []string{"Pa55word!", "Aa1-Aa1-", strings.Repeat("Aa1-", 6) + "Aa", "Aa1!@$%^-_=+[{}]:,./?~#*"} {
		if err := removal.CheckPassword(good, ""); err != nil {
			t.Fatalf("%q: %v; the case is wrong", good, err)
		}
		if err := s.validate(t, ptr, good); err != nil {
			t.Errorf("the schema refuses %q, which CCE takes: %v", good, err)
		}
	}
	for _, bad := range []string{"a", "Aa1-Aa1", strings.Repeat("Aa1-", 6) + "Aa1", "Pa55 word", "Pa55&word", `Pa55"word`, `Pa55\word`, "Pässw0rd!", "Pa55\tword"} {
		if removal.CheckPassword(bad, "") == nil {
			t.Fatalf("%q is taken; the case is wrong", bad)
		}
		if s.validate(t, ptr, bad) == nil {
			t.Errorf("the schema takes %q, which CCE refuses", bad)
		}
	}
}
