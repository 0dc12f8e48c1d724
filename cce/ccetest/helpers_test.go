package ccetest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

const (
	project = "proj-1"
	cluster = "clus-1"
	token   = "good-token"
)

// hashedPassword is base64 of a SHA-512 crypt string, as CCE wants.
var hashedPassword = base64.StdEncoding.EncodeToString([]byte("$6$Ab3./xyz$" + strings.Repeat("Q", 86)))

var sshLogin = cce.Login{SSHKey: "my-keypair"}

// newServer starts a fake with token auth and closes it when the test ends.
func newServer(tb testing.TB, opts ccetest.Options) *ccetest.Server {
	tb.Helper()
	if opts.Token == "" && opts.AK == "" {
		opts.Token = token
	}
	opts.Logf = tb.Logf
	srv := ccetest.NewServer(opts)
	tb.Cleanup(srv.Close)
	return srv
}

// newClient returns a token-authenticated cce.Client for srv.
func newClient(tb testing.TB, srv *ccetest.Server, timeout time.Duration) *cce.Client {
	tb.Helper()
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: cce.TokenAuth{Token: token}, Timeout: timeout})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// reply is a raw answer of the fake.
type reply struct {
	status    int
	header    http.Header
	body      string
	code, msg string // from either error spelling
}

// send makes a raw request with token auth (when auth is true) and decodes
// the error body, if any.
func send(tb testing.TB, srv *ccetest.Server, method, path, contentType, body string) reply {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Auth-Token", token)
	return do(tb, req)
}

// do sends req and reads the answer.
func do(tb testing.TB, req *http.Request) reply {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var e struct {
		Code     string `json:"errorCode"`
		Message  string `json:"errorMessage"`
		GWCode   string `json:"error_code"`
		GWMesage string `json:"error_msg"`
	}
	_ = json.Unmarshal(data, &e)
	return reply{resp.StatusCode, resp.Header, string(data), e.Code + e.GWCode, e.Message + e.GWMesage}
}

// removePath is the RemoveNode path of a cluster of the test project.
func removePath(clusterID string) string {
	return "/api/v3/projects/" + project + "/clusters/" + clusterID + "/nodes/operation/remove"
}

// removalBody is a RemoveNode body with an SSH key login.
func removalBody(uids ...string) string {
	task := cce.RemoveNodesTask{APIVersion: "v3", Kind: "RemoveNodesTask", Spec: cce.RemoveNodesSpec{Login: sshLogin}}
	for _, uid := range uids {
		task.Spec.Nodes = append(task.Spec.Nodes, cce.NodeItem{UID: uid})
	}
	b, _ := json.Marshal(task)
	return string(b)
}

// asError returns err as a *cce.Error or fails the test.
func asError(tb testing.TB, err error) *cce.Error {
	tb.Helper()
	var e *cce.Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want a *cce.Error", err, err)
	}
	return e
}

// expectAnswer checks a raw reply's status, code and that msg mentions
// every one of wants.
func expectAnswer(tb testing.TB, r reply, status int, code string, wants ...string) {
	tb.Helper()
	if r.status != status || r.code != code {
		tb.Errorf("answer %d %s (%s), want %d %s", r.status, r.code, r.body, status, code)
	}
	for _, w := range wants {
		if !strings.Contains(r.msg, w) {
			tb.Errorf("message %q does not mention %q", r.msg, w)
		}
	}
	if r.header.Get("X-Request-Id") == "" {
		tb.Error("answer has no X-Request-Id")
	}
}
