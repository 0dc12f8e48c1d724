package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/dashboard"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/tasks"
)

const hash = "JDYkc2FsdHNhbHQkaGFzaGhhc2g=" // base64 of $6$saltsalt$hashhash

func newDashboard(tb testing.TB, readOnly bool) (*httptest.Server, *asynq.Client) {
	tb.Helper()
	srv := redistest.Start(tb, redistest.Options{})
	rdb := srv.Client(tb)
	opt, err := asynq.ParseRedisURI(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	h := dashboard.New(dashboard.Options{Redis: opt, User: "ops", Password: "s3cret", ReadOnly: readOnly,
		Ready: func() error { return nil }})
	tb.Cleanup(func() { _ = h.Close() })
	hs := httptest.NewServer(h)
	tb.Cleanup(hs.Close)
	q := asynq.NewClientFromRedisClient(rdb)
	tb.Cleanup(func() { _ = q.Close() })
	return hs, q
}

func get(tb testing.TB, url, user, password string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthentication(t *testing.T) {
	hs, _ := newDashboard(t, false)
	cases := []struct {
		name, path, user, password string
		want                       int
	}{
		{"NoCredentials", "/", "", "", 401},
		{"WrongPassword", "/api/queues", "ops", "guess", 401},
		{"WrongUser", "/api/queues", "root", "s3cret", 401},
		{"Right", "/api/queues", "ops", "s3cret", 200},
		{"HomePage", "/", "ops", "s3cret", 200},
		{"LivenessWithout", "/healthz", "", "", 200},
		{"ReadinessWithout", "/readyz", "", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := get(t, hs.URL+tc.path, tc.user, tc.password); code != tc.want {
				t.Errorf("%s: %d, want %d (%.100s)", tc.path, code, tc.want, body)
			}
		})
	}
}

func TestPayloadsAreRedacted(t *testing.T) {
	hs, q := newDashboard(t, false)
	payloads := []string{
		`{"request_id":"r1","project_id":"p","cluster_id":"c","nodes":["n"]}`,
		`{"request_id":"r2","login":{"ssh_key":"my-keypair","username":"root","password_hash":"` + hash + `"}}`,
		`{"spec":{"login":{"userPassword":{"username":"root","password":"` + hash + `"}}}}`,
		`not json but holds $6$saltsalt$hashhash and ` + hash,
	}
	for _, p := range payloads {
		if _, err := q.Enqueue(asynq.NewTask(tasks.TypeRemoveNodes, []byte(p)), asynq.Queue(tasks.Queue)); err != nil {
			t.Fatal(err)
		}
	}
	code, body := get(t, hs.URL+"/api/queues/"+tasks.Queue+"/pending_tasks", "ops", "s3cret")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var list struct {
		Tasks []struct {
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Tasks) != len(payloads) {
		t.Fatalf("%v: %s", err, body)
	}
	shown := body
	for _, secret := range []string{hash, "$6$saltsalt", "hashhash"} {
		if strings.Contains(shown, secret) {
			t.Errorf("the dashboard shows %q", secret)
		}
	}
	for _, visible := range []string{"my-keypair", "r1", "cluster_id"} {
		if !strings.Contains(shown, visible) {
			t.Errorf("the dashboard hides %q, which is not secret", visible)
		}
	}
}

func TestReadOnly(t *testing.T) {
	hs, q := newDashboard(t, true)
	info, err := q.Enqueue(asynq.NewTask(tasks.TypeRemoveNodes, []byte(`{}`)), asynq.Queue(tasks.Queue))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, hs.URL+"/api/queues/"+tasks.Queue+"/pending_tasks/"+info.ID, nil)
	req.SetBasicAuth("ops", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE in read-only mode: %d", resp.StatusCode)
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		`{"password":"x"}`:              `{"password":"[redacted]"}`,
		`{"a":[{"Password_Hash":"x"}]}`: `{"a":[{"Password_Hash":"[redacted]"}]}`,
		`{"ssh_key":"k","n":1.50}`:      `{"n":1.50,"ssh_key":"k"}`,
		`plain $6$abc$def text`:         `plain [redacted] text`,
		`{"note":"JDYkYWJjJGRlZg=="}`:   `{"note":"[redacted]"}`,
	}
	for in, want := range cases {
		if got := dashboard.Redact([]byte(in)); got != want {
			t.Errorf("Redact(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestRequestIDLeadsThePayload: asynqmon shows of a task id only what
// stands before its first "-" (remove:third-c shows as remove:third), so the
// payload column names the request first, whole.
func TestRequestIDLeadsThePayload(t *testing.T) {
	cases := map[string]string{
		`{"cluster_id":"c","nodes":["n"],"project_id":"p","request_id":"third-c"}`: `{"request_id":"third-c","cluster_id":"c","nodes":["n"],"project_id":"p"}`,
		`{"batch_id":"b","job_id":"j","request_ids":["a-1","b-2"],"poll":3}`:       `{"request_ids":["a-1","b-2"],"batch_id":"b","job_id":"j","poll":3}`,
		`{"state":"failed","request_id":"x-y","password":"p"}`:                     `{"request_id":"x-y","state":"failed","password":"[redacted]"}`,
	}
	for in, want := range cases {
		if got := dashboard.Redact([]byte(in)); got != want {
			t.Errorf("Redact(%s) = %s, want %s", in, got, want)
		}
	}
}
