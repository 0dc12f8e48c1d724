package ccetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

const iamProject = "0123456789abcdef0123456789abcdef"

func statusOf(err error) int {
	var e *cce.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// askToken asks iam for a token as IAM's documents say, and returns the
// answer's status, X-Subject-Token and token.expires_at.
func askToken(t *testing.T, iam *ccetest.IAM, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(iam.URL+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), out.Token.ExpiresAt
}

func passwordBody(user, password, domain string) string {
	return `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"` + user + `","password":"` + password +
		`","domain":{"name":"` + domain + `"}}}},"scope":{"project":{"id":"` + iamProject + `"}}}}`
}

// TestIAMTokensExpireAtCCE: a token IAM issued is accepted by CCE for its
// project until it expires, then answered 401; IAM refuses a wrong password
// and a request without a project scope.
func TestIAMTokensExpireAtCCE(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam := ccetest.NewIAM(ccetest.IAMOptions{Domain: "acme", Users: map[string]string{"robot": "Pa55-word"}, TokenTTL: 20 * time.Second, Now: clock.Now})
	t.Cleanup(iam.Close)
	srv := ccetest.NewServer(ccetest.Options{IAM: iam, Now: clock.Now, AutoNodes: true})
	t.Cleanup(srv.Close)

	code, token, expires := askToken(t, iam, passwordBody("robot", "Pa55-word", "acme"))
	if code != http.StatusCreated || token == "" || expires != "2026-12-02T10:00:20.000000Z" {
		t.Fatalf("token: %d %q expires %q", code, token, expires)
	}
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: cce.TokenAuth{Token: token}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	node := "00000000-0000-4000-8000-000000000001"
	if _, err := c.ShowNode(ctx, iamProject, "c1", node); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	if _, err := c.ShowNode(ctx, "ffffffffffffffffffffffffffffffff", "c1", node); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("another project with the token: %v", err)
	}
	clock.Advance(20 * time.Second)
	_, err = c.ShowNode(ctx, iamProject, "c1", node)
	if statusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token: %v", err)
	}

	for name, body := range map[string]string{
		"wrong password": passwordBody("robot", "nope", "acme"),
		"wrong domain":   passwordBody("robot", "Pa55-word", "other"),
		"unknown user":   passwordBody("nobody", "Pa55-word", "acme"),
	} {
		if code, token, _ := askToken(t, iam, body); code != http.StatusUnauthorized || token != "" {
			t.Errorf("%s: %d %q", name, code, token)
		}
	}
	noScope := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"robot","password":"Pa55-word","domain":{"name":"acme"}}}}}}`
	if code, _, _ := askToken(t, iam, noScope); code != http.StatusBadRequest {
		t.Errorf("no project scope: %d", code)
	}
	if code, _, _ := askToken(t, iam, `{"auth":{"identity":{"methods":["token"]}}, "x":1}`); code != http.StatusBadRequest {
		t.Errorf("not a password request: %d", code)
	}
	if n := iam.Issued(); n != 1 {
		t.Errorf("%d tokens issued, want 1", n)
	}
}
