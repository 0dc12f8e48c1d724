package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) {
	// As main does for a one-shot command: go-redis's own pool lines would
	// only repeat the errors the tests look at.
	setRedisLogger(nil)
	testkit.Main(kubetest.StopSharedAfter(m)) // the controller's test starts a control plane
}

func uid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// result is what one in-process run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// runMain runs the program in process, as `noderemover args...` would.
func runMain(tb testing.TB, env map[string]string, stdin string, args ...string) result {
	tb.Helper()
	var out, errb bytes.Buffer
	getenv := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	code := run(tb.Context(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb}, config.Getenv(getenv))
	return result{code, out.String(), errb.String()}
}

func redisEnv(tb testing.TB) (map[string]string, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb, redistest.Options{})
	return map[string]string{"REDIS_URL": srv.URL}, srv
}

func keys(tb testing.TB, srv *redistest.Server) []string {
	tb.Helper()
	ks, err := srv.Client(tb).Keys(tb.Context(), "*").Result()
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

func TestHelpAndUnknownCommand(t *testing.T) {
	if r := runMain(t, nil, "", "help"); r.code != 0 || !strings.Contains(r.stdout, "enqueue") {
		t.Errorf("help: %+v", r)
	}
	if r := runMain(t, nil, "", "frobnicate"); r.code != exitUsage || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown: %+v", r)
	}
}

func TestEnqueueThenStatus(t *testing.T) {
	env, _ := redisEnv(t)
	r := runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--node", uid(2),
		"--ssh-key", "ops", "--request-id", "cli-1")
	if r.code != 0 {
		t.Fatalf("enqueue: %+v", r)
	}
	var enq map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &enq); err != nil || enq["request_id"] != "cli-1" {
		t.Fatalf("enqueue printed %q (%v)", r.stdout, err)
	}
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("enqueue printed more than one line: %q", r.stdout)
	}

	r = runMain(t, env, "", "status", "cli-1")
	if r.code != 0 {
		t.Fatalf("status: %+v", r)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for k := range st {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	want := []string{"attempts", "cluster_id", "created_at", "error", "job_id", "nodes", "project_id", "request_id", "state", "updated_at", "waiting"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("status fields %v, want %v", fields, want)
	}
	node := st["nodes"].([]any)[0].(map[string]any)
	if len(node) != 3 || node["uid"] != uid(1) || node["state"] != "pending" || node["reason"] != "" {
		t.Errorf("node %v", node)
	}
	if st["state"] != "queued" {
		t.Errorf("state %v", st["state"])
	}

	if r := runMain(t, env, "", "status", "nope"); r.code != exitFailure || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown id: %+v", r)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	env, srv := redisEnv(t)
	base := []string{"enqueue", "--project-id", "p1", "--cluster-id", "c1"}
	many := append([]string(nil), base...)
	for i := range 201 {
		many = append(many, "--node", uid(i))
	}
	many = append(many, "--ssh-key", "k")
	cases := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"NoProject", []string{"enqueue", "--cluster-id", "c1", "--node", uid(1), "--ssh-key", "k"}, "", "project_id"},
		{"NoNode", append(base, "--ssh-key", "k"), "", "nodes"},
		{"BadNode", append(base, "--node", "node-1", "--ssh-key", "k"), "", "nodes[0]"},
		{"DuplicateNode", append(base, "--node", uid(1), "--node", uid(1), "--ssh-key", "k"), "", "given twice"},
		{"TooMany", many, "", "at most 200"},
		{"NoLogin", append(base, "--node", uid(1)), "", "ssh_key or password"},
		{"BothLogins", append(base, "--node", uid(1), "--ssh-key", "k", "--password-stdin"), "pw\n", "not both"},
		{"EmptyPassword", append(base, "--node", uid(1), "--password-stdin"), "\n", "no password"},
		{"UsernameAlone", append(base, "--node", uid(1), "--ssh-key", "k", "--username", "root"), "", "--username"},
		{"UnknownFlag", append(base, "--nodes", uid(1)), "", "flag provided but not defined"},
		{"StrayArgument", append(base, "--node", uid(1), "--ssh-key", "k", "extra"), "", "unexpected argument"},
		{"BadRedisURL", append(base, "--node", uid(1), "--ssh-key", "k", "--redis-url", "http://x"), "", "REDIS_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, env, tc.stdin, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("code %d stderr %q, want 2 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	if ks := keys(t, srv); len(ks) != 0 {
		t.Fatalf("bad input wrote %v", ks)
	}
}

func TestEnqueuePasswordFromStdin(t *testing.T) {
	env, srv := redisEnv(t)
	const pw = "Stdin-Pa55word"
	r := runMain(t, env, pw+"\r\n", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--password-stdin", "--username", "admin")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, k := range keys(t, srv) {
		v, _ := srv.Client(t).Dump(t.Context(), k).Result()
		if strings.Contains(v, pw) {
			t.Fatalf("%s holds the plaintext password", k)
		}
	}
}

func TestEnqueueFromFile(t *testing.T) {
	env, srv := redisEnv(t)
	lines := []string{
		fmt.Sprintf(`{"project_id":"p1","cluster_id":"c1","nodes":[%q],"ssh_key":"k","request_id":"f-1"}`, uid(1)),
		``,
		fmt.Sprintf(`{"project_id":"p1","cluster_id":"c2","nodes":[%q,%q],"password":"Pa55word!","username":"root","request_id":"f-2"}`, uid(2), uid(3)),
		fmt.Sprintf(`{"project_id":"p1","cluster_id":"c1","nodes":[%q],"ssh_key":"k"}`, uid(4)),
	}
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, env, "", "enqueue", "--from-file", path)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 3 {
		t.Fatalf("printed %d lines, want 3: %q", len(out), r.stdout)
	}
	for i, want := range []string{"f-1", "f-2", ""} {
		var st map[string]any
		if err := json.Unmarshal([]byte(out[i]), &st); err != nil || st["request_id"] == "" || (want != "" && st["request_id"] != want) {
			t.Errorf("line %d: %q", i, out[i])
		}
	}

	// From stdin, with a malformed line: nothing more is enqueued.
	before := len(keys(t, srv))
	bad := []string{
		fmt.Sprintf(`{"project_id":"p1","cluster_id":"c3","nodes":[%q],"ssh_key":"k"}`, uid(10)),
		fmt.Sprintf(`{"project_id":"p1","cluster_id":"c3","nodes":[%q],"ssh_key":"k","colour":"red"}`, uid(11)),
	}
	r = runMain(t, env, strings.Join(bad, "\n"), "enqueue", "--from-file", "-")
	if r.code != exitUsage || !strings.Contains(r.stderr, "line 2") || !strings.Contains(r.stderr, "colour") {
		t.Fatalf("malformed line: %+v", r)
	}
	if after := len(keys(t, srv)); after != before {
		t.Fatalf("a malformed file enqueued something: %d keys → %d", before, after)
	}
	for name, line := range map[string]string{
		"WrongType":  `{"project_id":"p1","cluster_id":"c3","nodes":"x","ssh_key":"k"}`,
		"NotJSON":    `project_id=p1`,
		"BadNode":    `{"project_id":"p1","cluster_id":"c3","nodes":["x"],"ssh_key":"k"}`,
		"TwoObjects": `{"project_id":"p1"} {"project_id":"p2"}`,
	} {
		if r := runMain(t, env, line, "enqueue", "--from-file", "-"); r.code != exitUsage || !strings.Contains(r.stderr, "line 1") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	t.Run("EveryBadLineInOrder", func(t *testing.T) {
		file := strings.Join([]string{
			fmt.Sprintf(`{"project_id":"p1","cluster_id":"c4","nodes":[%q],"ssh_key":"k"}`, uid(20)),
			fmt.Sprintf(`{"project_id":"p1","cluster_id":"c4","nodes":[%q],"ssh_key":"k","colour":"red"}`, uid(21)),
			``,
			`{"project_id":"p1","cluster_id":"c4","nodes":["not-a-uuid"],"ssh_key":"k"}`,
			fmt.Sprintf(`{"project_id":"p1","cluster_id":"c4","nodes":[%q],"ssh_key":"k"}`, uid(22)),
			`not json`,
			fmt.Sprintf(`{"project_id":"p1","cluster_id":"c4","nodes":[%q]}`, uid(23)),
		}, "\n")
		before := len(keys(t, srv))
		r := runMain(t, env, file, "enqueue", "--from-file", "-")
		got := strings.Split(strings.TrimSpace(r.stderr), "\n")
		want := []string{"line 2: ", "line 4: ", "line 6: ", "line 7: ", "4 bad lines; nothing was enqueued"}
		if r.code != exitUsage || len(got) != len(want) || r.stdout != "" {
			t.Fatalf("code %d, stdout %q, stderr:\n%s\nwant exit 2 and %d lines", r.code, r.stdout, r.stderr, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(got[i], "noderemover: enqueue: "+w) {
				t.Errorf("stderr line %d %q, want it to start with %q", i+1, got[i], w)
			}
		}
		if after := len(keys(t, srv)); after != before {
			t.Fatalf("a file with bad lines enqueued something: %d keys → %d", before, after)
		}
	})
	if r := runMain(t, env, "", "enqueue", "--from-file", "-", "--ssh-key", "k"); r.code != exitUsage {
		t.Errorf("--from-file with request flags: %+v", r)
	}
}

func TestWorkerRefusesBadConfig(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CCE_REGION": "cn-north-4"}, "CCE_AUTH_TOKEN, CCE_AUTH_TOKEN_FILE, HUAWEICLOUD_SDK_AK"},
		{map[string]string{"CCE_AUTH_TOKEN": "t"}, "CCE_ENDPOINT or CCE_REGION"},
		{map[string]string{"CCE_AUTH_TOKEN": "t", "CCE_REGION": "cn-north-4", "POLL_INTERVAL_MIN": "fast"}, "POLL_INTERVAL_MIN"},
	}
	for _, tc := range cases {
		r := runMain(t, tc.env, "", "worker")
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("env %v: code %d stderr %q, want %q", tc.env, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "=\"t\"") {
			t.Errorf("the token is printed: %q", r.stderr)
		}
	}
	if r := runMain(t, map[string]string{"CCE_AUTH_TOKEN": "t", "CCE_REGION": "cn-north-4"}, "", "worker", "--concurrency", "0"); r.code != exitUsage || !strings.Contains(r.stderr, "WORKER_CONCURRENCY") {
		t.Errorf("flag override: %+v", r)
	}
}

func TestDemo(t *testing.T) {
	r := runMain(t, nil, "", "demo", "--job-duration", "300ms")
	if r.code != 0 {
		t.Fatalf("demo: %+v", r)
	}
	for _, want := range []string{"NODE STATE", "demo-broken-node   failed", "demo-scale-down-a  succeeded", "no node was removed twice: true", "demo-autoscaler-3  succeeded", "no call was refused for them: true"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}
