package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/noderemover/noderemover/api"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/removal"
)

// badInputToken is the bearer token of the API under test.
const badInputToken = "badinput-api-token-0123456789"

// badInputPassword is a valid node password for the cases that need one.
const badInputPassword = "Badinput-Pa55word"

func badInputUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// badInputBase is the request every case changes: valid as it is.
func badInputBase() map[string]any {
	return map[string]any{"project_id": project, "cluster_id": "cluster-1", "nodes": []any{badInputUID(1)}, "ssh_key": "ops-key"}
}

// jsonNull is a member given as JSON null (a nil change removes the member).
var jsonNull = json.RawMessage("null")

// badInput is one way a removal request can be wrong. Every entry point
// that can express it refuses it with an error naming the same field and
// saying the same thing, and writes nothing to Redis.
type badInput struct {
	name string
	// change edits badInputBase: a member to a value, or away with nil.
	change map[string]any
	// body, when set, is the whole JSON instead (JSON entry points only):
	// what a map cannot say, such as repeated members or broken syntax.
	body string
	// field is the field the error names; "" for the body as a whole.
	field string
	// says is a phrase every entry point's message holds.
	says string
	// status is the API's answer; 0 means 400.
	status int
}

func badInputs() []badInput {
	many := make([]any, removal.MaxNodes+1)
	for i := range many {
		many[i] = badInputUID(i)
	}
	// A well-formed request padded with white space past every size limit
	// (the API's is 1 MiB, a --from-file line's 64 KiB).
	padded := `{"project_id":"` + project + `",` + strings.Repeat(" ", 1<<20) +
		`"cluster_id":"cluster-1","nodes":["` + badInputUID(1) + `"],"ssh_key":"ops-key"}`
	// password makes a change of a request with a password login.
	password := func(m map[string]any) map[string]any {
		m["ssh_key"] = nil
		if _, ok := m["password"]; !ok {
			m["password"] = badInputPassword
		}
		return m
	}
	return []badInput{
		{name: "MissingProject", change: map[string]any{"project_id": nil}, field: "project_id", says: "is missing"},
		{name: "MissingCluster", change: map[string]any{"cluster_id": nil}, field: "cluster_id", says: "is missing"},
		{name: "MissingNodes", change: map[string]any{"nodes": nil}, field: "nodes", says: "no node given"},
		{name: "ZeroNodes", change: map[string]any{"nodes": []any{}}, field: "nodes", says: "no node given"},
		{name: "TooManyNodes", change: map[string]any{"nodes": many}, field: "nodes", says: "201 nodes given; a request removes at most 200"},
		{name: "MalformedProject", change: map[string]any{"project_id": "p 1"}, field: "project_id", says: "must be 1-64 letters"},
		{name: "MalformedCluster", change: map[string]any{"cluster_id": "c/1"}, field: "cluster_id", says: "must be 1-64 letters"},
		{name: "MalformedNode", change: map[string]any{"nodes": []any{badInputUID(1), "node-2"}}, field: "nodes[1]", says: "is not a node uid"},
		{name: "NodeNotHex", change: map[string]any{"nodes": []any{"0000000g-0000-4000-8000-000000000001"}}, field: "nodes[0]", says: "is not a node uid"},
		{name: "DuplicateNode", change: map[string]any{"nodes": []any{badInputUID(1), strings.ToUpper(badInputUID(1))}}, field: "nodes[1]", says: "given twice"},
		{name: "BothLogins", change: map[string]any{"password": badInputPassword}, field: "login", says: "not both"},
		{name: "NoLogin", change: map[string]any{"ssh_key": nil}, field: "login", says: "give ssh_key or password"},
		{name: "MalformedSSHKey", change: map[string]any{"ssh_key": "my key"}, field: "ssh_key", says: "must be 1-64 letters"},
		{name: "UsernameWithKey", change: map[string]any{"username": "root"}, field: "username", says: "goes with"},
		{name: "MalformedUsername", change: password(map[string]any{"username": "Root User"}), field: "username", says: "not a Linux user name"},
		{name: "PasswordControlChar", change: password(map[string]any{"password": "Pa55\tword"}), field: "password", says: "control character"},
		{name: "PasswordTooShort", change: password(map[string]any{"password": "a"}), field: "password", says: "is 1 character; CCE wants 8 to 26"},
		{name: "PasswordTooLong", change: password(map[string]any{"password": "Pa55-" + strings.Repeat("w", removal.MaxPasswordLength-4)}), field: "password", says: "is 27 characters; CCE wants 8 to 26"},
		{name: "PasswordCharacterNotAllowed", change: password(map[string]any{"password": "Pa55&word"}), field: "password", says: "holds a character CCE does not allow"},
		{name: "EmptyRequestID", change: map[string]any{"request_id": ""}, field: "request_id", says: "is empty"},
		{name: "BlankRequestID", change: map[string]any{"request_id": "   "}, field: "request_id", says: "is empty"},
		{name: "MalformedRequestID", change: map[string]any{"request_id": "-x"}, field: "request_id", says: "must be 1-128 letters"},
		{name: "LongRequestID", change: map[string]any{"request_id": strings.Repeat("r", 129)}, field: "request_id", says: "must be 1-128 letters"},
		{name: "EmptySSHKeyWithPassword", change: map[string]any{"ssh_key": "", "password": badInputPassword}, field: "ssh_key", says: "is empty"},
		{name: "EmptyUsername", change: password(map[string]any{"username": ""}), field: "username", says: "is empty"},
		{name: "UnknownMember", change: map[string]any{"colour": "red"}, field: "colour", says: "is not a member"},
		{name: "MemberInOtherCase", change: map[string]any{"ssh_key": nil, "SSH_KEY": "ops-key"}, field: "SSH_KEY", says: "is not a member"},
		{name: "NodesNotArray", change: map[string]any{"nodes": badInputUID(1)}, field: "nodes", says: "must be an array of node uids, not a string"},
		{name: "NodeNotString", change: map[string]any{"nodes": []any{badInputUID(1), 7}}, field: "nodes[1]", says: "must be a string, not a number"},
		{name: "ProjectNotString", change: map[string]any{"project_id": 12}, field: "project_id", says: "must be a string, not a number"},
		{name: "LoginAsObject", change: map[string]any{"ssh_key": map[string]any{"name": "ops-key"}}, field: "ssh_key", says: "must be a string, not an object"},
		{name: "NullMember", change: map[string]any{"cluster_id": jsonNull}, field: "cluster_id", says: "must be a string, not null"},
		{name: "RepeatedMember", body: `{"project_id":"p1","project_id":"p2","cluster_id":"c1","nodes":["` + badInputUID(1) + `"],"ssh_key":"k"}`,
			field: "project_id", says: "given twice"},
		{name: "TrailingData", body: mustJSON(badInputBase()) + ` {"project_id":"p2"}`, says: "data after the JSON object"},
		{name: "NotAnObject", body: `[` + mustJSON(badInputBase()) + `]`, says: "must be a JSON object, not an array"},
		{name: "NotJSON", body: `project_id=p1&cluster_id=c1`, says: "not valid JSON"},
		{name: "Oversized", body: padded, status: http.StatusRequestEntityTooLarge, says: "larger than"},
	}
}

// json is the case as one line of JSON.
func (c badInput) json() string {
	if c.body != "" {
		return c.body
	}
	return mustJSON(c.members())
}

// members is badInputBase with the change applied.
func (c badInput) members() map[string]any {
	m := badInputBase()
	for k, v := range c.change {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// stringMembers are the members a Request holds as a Go string.
var stringMembers = []string{"request_id", "project_id", "cluster_id", "ssh_key", "password", "username"}

// typed returns the members when each is one a Request has, of its Go
// type: a string, or nodes as strings. Bodies, unknown members and JSON
// types Go has no field for are not.
func (c badInput) typed() (map[string]any, bool) {
	if c.body != "" {
		return nil, false
	}
	m := c.members()
	for k, v := range m {
		switch t := v.(type) {
		case string:
			if !slices.Contains(stringMembers, k) {
				return nil, false
			}
		case []any:
			if k != "nodes" {
				return nil, false
			}
			for _, item := range t {
				if _, ok := item.(string); !ok {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return m, true
}

func nodesOf(m map[string]any) []string {
	items, _ := m["nodes"].([]any)
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = item.(string)
	}
	return out
}

// goRequest is the case as an enqueuer.Request, if Go can say it: no
// member given as "" either, which in Go is the member left out.
func (c badInput) goRequest() (enqueuer.Request, bool) {
	m, ok := c.typed()
	if !ok {
		return enqueuer.Request{}, false
	}
	for _, v := range m {
		if v == "" {
			return enqueuer.Request{}, false
		}
	}
	s := func(k string) string { v, _ := m[k].(string); return v }
	r := enqueuer.Request{ID: s("request_id"), ProjectID: s("project_id"), ClusterID: s("cluster_id"),
		SSHKey: s("ssh_key"), Password: s("password"), Username: s("username")}
	if _, ok := m["nodes"]; ok {
		r.Nodes = nodesOf(m)
	}
	return r, true
}

// flags is the case as `enqueue` flags and stdin, if flags can say it. A
// flag can be given as "" (where Go cannot); the password comes as one
// non-empty line of stdin.
func (c badInput) flags() (args []string, stdin string, ok bool) {
	m, ok := c.typed()
	if !ok {
		return nil, "", false
	}
	args = []string{"enqueue"}
	for _, f := range []struct{ member, flag string }{
		{"request_id", "--request-id"}, {"project_id", "--project-id"}, {"cluster_id", "--cluster-id"},
		{"ssh_key", "--ssh-key"}, {"username", "--username"},
	} {
		if v, ok := m[f.member].(string); ok {
			args = append(args, f.flag, v)
		}
	}
	for _, n := range nodesOf(m) {
		args = append(args, "--node", n)
	}
	if pw, ok := m["password"].(string); ok {
		if pw == "" || strings.ContainsAny(pw, "\r\n") {
			return nil, "", false
		}
		args, stdin = append(args, "--password-stdin"), pw+"\n"
	}
	return args, stdin, true
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// TestBadInputEverywhere runs one table of bad requests against every way a
// request enters: the Go enqueuer, the HTTP API, and the CLI with flags and
// with --from-file. Each refuses each case with a message naming the same
// field, and after each Redis holds no key at all: no record, no task.
// The JSON of every case also breaks openapi.json's Request schema, so the
// contract and the code refuse the same things.
func TestBadInputEverywhere(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	ctx := context.Background() // not t.Context(): nothingWritten's Cleanups use it after the test's context ends
	c := enqueuer.New(rdb, enqueuer.Options{})
	t.Cleanup(func() { _ = c.Close() })
	hs := httptest.NewServer(api.New(c, api.Options{Tokens: []string{badInputToken}, Logger: zerolog.Nop()}))
	t.Cleanup(hs.Close)
	bin := proctest.Binary(t, false)
	env := []string{"REDIS_URL=" + srv.URL}
	schema := requestSchema(t)

	// nothingWritten checks, when the subtest ends, that Redis holds no
	// key: no record, no claim, no task. It empties Redis when it does, so
	// that the next case starts clean.
	nothingWritten := func(tb testing.TB) {
		tb.Helper()
		tb.Cleanup(func() {
			keys, err := rdb.Keys(ctx, "*").Result()
			if err != nil {
				tb.Fatal(err)
			}
			if len(keys) > 0 {
				tb.Errorf("bad input wrote to Redis: %v", keys)
				_ = rdb.FlushDB(ctx).Err()
			}
		})
	}
	// cliRefuses runs the CLI and wants exit 2, nothing on stdout and one
	// line on stderr naming the field ("nodes[1]: ", or the flag) and
	// saying what the case says.
	cliRefuses := func(tb testing.TB, tc badInput, stdin string, args ...string) string {
		tb.Helper()
		stdout, stderr, code := proctest.RunAll(tb, bin, env, stdin, args...)
		if code != 2 || stdout != "" {
			tb.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and nothing on stdout", code, stdout, stderr)
		}
		named := tc.field == "" || strings.Contains(stderr, tc.field+": ") ||
			(args[1] != "--from-file" && strings.Contains(stderr, "--"+strings.ReplaceAll(tc.field, "_", "-")+" "))
		if !named || !strings.Contains(stderr, tc.says) {
			tb.Errorf("stderr %q does not name %q and say %q", stderr, tc.field, tc.says)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
			tb.Errorf("stderr is %d lines: %q", n+1, stderr)
		}
		return stderr
	}

	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			// What JSON Schema can say (not repeated members or syntax),
			// the contract refuses too.
			if tc.body == "" && schema.Validate(jsonValue(t, tc.json())) == nil {
				t.Errorf("openapi.json's Request schema accepts %s", tc.json())
			}

			t.Run("Go", func(t *testing.T) {
				nothingWritten(t)
				r, ok := tc.goRequest()
				if !ok {
					t.Skip("a Go enqueuer.Request cannot say this")
				}
				_, err := c.Enqueue(ctx, r)
				var invalid *removal.InvalidError
				if !errors.As(err, &invalid) || !errors.Is(err, enqueuer.ErrInvalid) {
					t.Fatalf("error %v, want a *removal.InvalidError", err)
				}
				if invalid.Field != tc.field || !strings.Contains(invalid.Problem, tc.says) {
					t.Errorf("error %q names %q; want %q saying %q", err, invalid.Field, tc.field, tc.says)
				}
			})

			t.Run("API", func(t *testing.T) {
				nothingWritten(t)
				status, ct, p := postRemoval(t, hs.URL, badInputToken, tc.json())
				want := tc.status
				if want == 0 {
					want = http.StatusBadRequest
				}
				if status != want || ct != "application/problem+json" {
					t.Fatalf("answer %d %s %v, want %d application/problem+json", status, ct, p, want)
				}
				if got, _ := p["field"].(string); got != tc.field {
					t.Errorf("problem field %q, want %q: %v", got, tc.field, p)
				}
				if detail, _ := p["detail"].(string); !strings.Contains(detail, tc.says) {
					t.Errorf("problem detail %q does not say %q", detail, tc.says)
				}
			})

			t.Run("CLIFlags", func(t *testing.T) {
				nothingWritten(t)
				args, stdin, ok := tc.flags()
				if !ok {
					t.Skip("enqueue flags cannot say this")
				}
				cliRefuses(t, tc, stdin, args...)
			})

			t.Run("CLIFromFile", func(t *testing.T) {
				nothingWritten(t)
				// The bad line second, after a good one: the whole file is refused.
				good := mustJSON(map[string]any{"project_id": project, "cluster_id": "cluster-2",
					"nodes": []string{badInputUID(2)}, "ssh_key": "ops-key"})
				path := filepath.Join(t.TempDir(), "requests.jsonl")
				if err := os.WriteFile(path, []byte(good+"\n"+tc.json()+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if stderr := cliRefuses(t, tc, "", "enqueue", "--from-file", path); !strings.Contains(stderr, "line 2") {
					t.Errorf("stderr %q does not name line 2", stderr)
				}
			})
		})
	}

	// The unchanged request goes in through each, so an empty Redis above
	// means refused, not unreachable.
	t.Run("ValidIsAccepted", func(t *testing.T) {
		good := func(i int) map[string]any {
			m := badInputBase()
			m["request_id"], m["nodes"] = fmt.Sprintf("good-%d", i), []any{badInputUID(100 + i)}
			return m
		}
		r, _ := badInput{change: good(1)}.goRequest()
		if _, err := c.Enqueue(ctx, r); err != nil {
			t.Fatalf("Go: %v", err)
		}
		if status, _, p := postRemoval(t, hs.URL, badInputToken, mustJSON(good(2))); status != http.StatusAccepted {
			t.Fatalf("API: %d %v", status, p)
		}
		args, _, _ := badInput{change: good(3)}.flags()
		if stdout, stderr, code := proctest.RunAll(t, bin, env, "", args...); code != 0 {
			t.Fatalf("CLI flags: exit %d %q %q", code, stdout, stderr)
		}
		path := filepath.Join(t.TempDir(), "good.jsonl")
		if err := os.WriteFile(path, []byte(mustJSON(good(4))+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, code := proctest.RunAll(t, bin, env, "", "enqueue", "--from-file", path); code != 0 {
			t.Fatalf("CLI --from-file: exit %d %q %q", code, stdout, stderr)
		}
		for i := 1; i <= 4; i++ {
			if st, err := c.Status(ctx, fmt.Sprintf("good-%d", i)); err != nil || st.State != removal.StateQueued {
				t.Errorf("good-%d: %+v %v", i, st, err)
			}
		}
		if schema.Validate(jsonValue(t, mustJSON(good(1)))) != nil {
			t.Errorf("openapi.json's Request schema refuses the valid request")
		}
	})
}

// postRemoval sends body to POST /v1/removals with token and returns the
// status, the Content-Type and the answer as an object.
func postRemoval(tb testing.TB, base, token, body string) (int, string, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/removals", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := testHTTPClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

// requestSchema compiles the Request schema of api/openapi.json.
func requestSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "api", "openapi.json"))
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	const url = "https://noderemover.dev/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile(url + "#/components/schemas/Request")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func jsonValue(tb testing.TB, s string) any {
	tb.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
