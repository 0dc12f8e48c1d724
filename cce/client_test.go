package cce_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

// hashedPassword is a password in the form CCE wants: base64 of a SHA-512
// crypt string.
var hashedPassword = base64.StdEncoding.EncodeToString([]byte("$6$saltsalt$" + strings.Repeat("x", 86)))

// recorded is one request as a recorder server saw it.
type recorded struct {
	method, escapedPath string
	header              http.Header
	body                []byte
}

// newRecorder starts a server that records requests and answers with status
// and body.
func newRecorder(tb testing.TB, status int, answer string) (*httptest.Server, func() []recorded) {
	tb.Helper()
	var mu sync.Mutex
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, recorded{r.Method, r.URL.EscapedPath(), r.Header.Clone(), body})
		mu.Unlock()
		w.Header().Set("X-Request-Id", "rec-1")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), seen...)
	}
}

// newClient returns a Client for endpoint, failing the test on error.
func newClient(tb testing.TB, endpoint string, auth cce.Authenticator) *cce.Client {
	tb.Helper()
	c, err := cce.New(cce.Config{Endpoint: endpoint, Auth: auth, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// bodyCheck is an Authenticator that remembers the body it was given.
type bodyCheck struct {
	mu   sync.Mutex
	body []byte
}

func (b *bodyCheck) Authenticate(r *http.Request, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.body = append([]byte(nil), body...)
	r.Header.Set("X-Auth-Token", "tok")
	return nil
}

func TestNewValidatesConfig(t *testing.T) {
	auth := cce.TokenAuth{Token: "t"}
	tests := map[string]struct {
		cfg       cce.Config
		wantField string
	}{
		"NoEndpoint":       {cce.Config{Auth: auth}, "Endpoint"},
		"BadScheme":        {cce.Config{Endpoint: "ftp://x", Auth: auth}, "Endpoint"},
		"NoHost":           {cce.Config{Endpoint: "https://", Auth: auth}, "Endpoint"},
		"Query":            {cce.Config{Endpoint: "https://x/?a=1", Auth: auth}, "Endpoint"},
		"UserInfo":         {cce.Config{Endpoint: "https://u:p@x", Auth: auth}, "Endpoint"},
		"NoAuth":           {cce.Config{Endpoint: "https://x"}, "Auth"},
		"EmptyToken":       {cce.Config{Endpoint: "https://x", Auth: cce.TokenAuth{}}, "Auth"},
		"SignerWithoutSK":  {cce.Config{Endpoint: "https://x", Auth: &cce.Signer{AK: "AK"}}, "Auth"},
		"NegativeTimeout":  {cce.Config{Endpoint: "https://x", Auth: auth, Timeout: -1}, "Timeout"},
		"MultiLineUAAgent": {cce.Config{Endpoint: "https://x", Auth: auth, UserAgent: "a\nb"}, "UserAgent"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := cce.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.wantField) {
				t.Errorf("New = %v, want an error naming Config.%s", err, tt.wantField)
			}
		})
	}
	t.Run("TrailingSlash", func(t *testing.T) {
		if _, err := cce.New(cce.Config{Endpoint: "https://x/", Auth: auth}); err != nil {
			t.Error(err)
		}
	})
}

func TestRemoveNodesSendsExactBody(t *testing.T) {
	tests := []struct {
		name  string
		login cce.Login
		want  string
	}{
		{"SSHKey", cce.Login{SSHKey: "my-keypair"},
			`{"apiVersion":"v3","kind":"RemoveNodesTask","spec":{"login":{"sshKey":"my-keypair"},"nodes":[{"uid":"n1"},{"uid":"n2"}]}}`},
		{"UserPassword", cce.Login{UserPassword: &cce.UserPassword{Username: "root", Password: "aGFzaA=="}},
			`{"apiVersion":"v3","kind":"RemoveNodesTask","spec":{"login":{"userPassword":{"username":"root","password":"aGFzaA=="}},"nodes":[{"uid":"n1"},{"uid":"n2"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := newRecorder(t, 200, `{"spec":{},"status":{"jobID":"job-1"}}`)
			auth := &bodyCheck{}
			c, err := cce.New(cce.Config{Endpoint: srv.URL + "/", Auth: auth, UserAgent: "noderemover-test"})
			if err != nil {
				t.Fatal(err)
			}
			jobID, err := c.RemoveNodes(t.Context(), "p/1", "c 1", tt.login, []string{"n1", "n2"})
			if err != nil || jobID != "job-1" {
				t.Fatalf("RemoveNodes = %q, %v", jobID, err)
			}
			reqs := seen()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests", len(reqs))
			}
			r := reqs[0]
			if string(r.body) != tt.want {
				t.Errorf("body\n got %s\nwant %s", r.body, tt.want)
			}
			if string(auth.body) != string(r.body) {
				t.Errorf("Authenticate got body %s, sent %s", auth.body, r.body)
			}
			if r.method != "PUT" || r.escapedPath != "/api/v3/projects/p%2F1/clusters/c%201/nodes/operation/remove" {
				t.Errorf("request %s %s", r.method, r.escapedPath)
			}
			for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json",
				"X-Auth-Token": "tok", "User-Agent": "noderemover-test"} {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRemoveNodesRejectsInvalidInputBeforeSending(t *testing.T) {
	srv, seen := newRecorder(t, 200, `{}`)
	c := newClient(t, srv.URL, cce.TokenAuth{Token: "t"})
	key := cce.Login{SSHKey: "k"}
	tooMany := make([]string, cce.MaxNodesPerRemoval+1)
	for i := range tooMany {
		tooMany[i] = "n" + strings.Repeat("x", i)
	}
	tests := map[string]struct {
		project, cluster string
		login            cce.Login
		nodes            []string
		wantInMessage    string
	}{
		"EmptyProject":  {"", "c", key, []string{"n"}, "projectID"},
		"EmptyCluster":  {"p", "", key, []string{"n"}, "clusterID"},
		"NoNodes":       {"p", "c", key, nil, "0 node uids"},
		"TooManyNodes":  {"p", "c", key, tooMany, "201 node uids"},
		"EmptyUID":      {"p", "c", key, []string{"n", ""}, "#1 is empty"},
		"DuplicateUID":  {"p", "c", key, []string{"n", "n"}, `"n" is repeated`},
		"NoLogin":       {"p", "c", cce.Login{}, []string{"n"}, "neither"},
		"TwoLogins":     {"p", "c", cce.Login{SSHKey: "k", UserPassword: &cce.UserPassword{Password: "x"}}, []string{"n"}, "both"},
		"EmptyPassword": {"p", "c", cce.Login{UserPassword: &cce.UserPassword{Username: "root"}}, []string{"n"}, "password is empty"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := c.RemoveNodes(t.Context(), tt.project, tt.cluster, tt.login, tt.nodes)
			if !errors.Is(err, cce.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Fatalf("err = %v, want ErrInvalidInput mentioning %q", err, tt.wantInMessage)
			}
			if cce.Classify(err) != cce.ClassPermanent || cce.MaybeApplied(err) {
				t.Errorf("Classify = %v, MaybeApplied = %v; want permanent, false", cce.Classify(err), cce.MaybeApplied(err))
			}
		})
	}
	t.Run("EmptyIDsOfReads", func(t *testing.T) {
		if _, err := c.ShowJob(t.Context(), "p", ""); !errors.Is(err, cce.ErrInvalidInput) {
			t.Errorf("ShowJob with empty jobID: %v", err)
		}
		if _, err := c.ShowNode(t.Context(), "p", "c", ""); !errors.Is(err, cce.ErrInvalidInput) {
			t.Errorf("ShowNode with empty nodeUID: %v", err)
		}
	})
	if n := len(seen()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestClientAgainstFake(t *testing.T) {
	const project, cluster = "proj", "clus"
	auths := map[string]cce.Authenticator{
		"Token":  cce.TokenAuth{Token: "good-token"},
		"Signer": &cce.Signer{AK: "AK", SK: "SK", ProjectID: project, SecurityToken: "sts"},
	}
	for name, auth := range auths {
		t.Run(name, func(t *testing.T) {
			srv := ccetest.NewServer(ccetest.Options{Token: "good-token", AK: "AK", SK: "SK", JobDuration: time.Hour})
			defer srv.Close()
			srv.AddNodes(project, cluster, "n1", "n2")
			c := newClient(t, srv.URL, auth)
			ctx := t.Context()

			jobID, err := c.RemoveNodes(ctx, project, cluster,
				cce.Login{UserPassword: &cce.UserPassword{Password: hashedPassword}}, []string{"n1", "n2"})
			if err != nil {
				t.Fatal(err)
			}
			job, err := c.ShowJob(ctx, project, jobID)
			if err != nil || job.Metadata.UID != jobID || job.Status.Phase.Final() || len(job.Spec.SubJobs) != 2 {
				t.Fatalf("ShowJob = %+v, %v", job, err)
			}
			node, err := c.ShowNode(ctx, project, cluster, "n1")
			if err != nil || node.Status.Phase != cce.NodeDeleting || node.Status.JobID != jobID {
				t.Fatalf("ShowNode = %+v, %v", node, err)
			}
			_, err = c.ShowNode(ctx, project, cluster, "gone")
			if !cce.IsNotFound(err) {
				t.Errorf("ShowNode(unknown) = %v, want not found", err)
			}
		})
	}
	t.Run("BadTokenIsCredentials", func(t *testing.T) {
		srv := ccetest.NewServer(ccetest.Options{Token: "good-token"})
		defer srv.Close()
		_, err := newClient(t, srv.URL, cce.TokenAuth{Token: "bad-token"}).ShowJob(t.Context(), "p", "j")
		var e *cce.Error
		if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "CCE.01401001" || e.RequestID == "" {
			t.Fatalf("err = %v, want *Error 401 CCE.01401001 with a request id", err)
		}
		if cce.Classify(err) != cce.ClassCredentials || cce.MaybeApplied(err) {
			t.Errorf("Classify = %v, MaybeApplied = %v", cce.Classify(err), cce.MaybeApplied(err))
		}
		if strings.Contains(err.Error(), "bad-token") {
			t.Error("the error shows the token")
		}
	})
}
