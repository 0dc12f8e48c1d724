package ccetest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// signedRequest builds a GET ShowNode request signed by hand over the given
// header names, as another SDK would sign it.
func signedRequest(tb testing.TB, srv *ccetest.Server, sk string, at time.Time, headers map[string]string, signed []string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v3/projects/"+project+"/clusters/"+cluster+"/nodes/n1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Sdk-Date", at.UTC().Format(cce.SignDateFormat))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sig, err := cce.Signature(sk, req, nil, signed)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=AK, SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
	return req
}

func TestAuthentication(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{Token: token, AK: "AK", SK: "SK", Now: clk.Now})
	srv.AddNodes(project, cluster, "n1")
	showNode := func(auth cce.Authenticator) error {
		c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ShowNode(t.Context(), project, cluster, "n1")
		return err
	}
	signer := func(sk string, skew time.Duration) *cce.Signer {
		return &cce.Signer{AK: "AK", SK: sk, ProjectID: project,
			Now: func() time.Time { return clk.Now().Add(skew) }}
	}
	accepted := map[string]cce.Authenticator{
		"GoodToken":         cce.TokenAuth{Token: token},
		"GoodSignature":     signer("SK", 0),
		"SignatureSkew14m":  signer("SK", -14*time.Minute),
		"WithSecurityToken": &cce.Signer{AK: "AK", SK: "SK", SecurityToken: "sts", Now: clk.Now},
	}
	for name, auth := range accepted {
		t.Run(name, func(t *testing.T) {
			if err := showNode(auth); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
	rejected := map[string]struct {
		auth cce.Authenticator
		why  string
	}{
		"BadToken":        {cce.TokenAuth{Token: "other"}, "X-Auth-Token is not valid"},
		"BadSignature":    {signer("wrong-SK", 0), "does not match"},
		"UnknownAK":       {&cce.Signer{AK: "AK2", SK: "SK", Now: clk.Now}, "unknown access key"},
		"StaleSdkDate":    {signer("SK", -16*time.Minute), "15 minutes"},
		"FutureSdkDate":   {signer("SK", 16*time.Minute), "15 minutes"},
		"NoCredentials":   {authFunc(func(*http.Request, []byte) error { return nil }), "no X-Auth-Token"},
		"TamperedRequest": {authFunc(tamper(clk.Now)), "does not match"},
	}
	for name, tt := range rejected {
		t.Run(name, func(t *testing.T) {
			err := showNode(tt.auth)
			e := asError(t, err)
			if e.StatusCode != 401 || e.Code != "CCE.01401001" || cce.Classify(err) != cce.ClassCredentials ||
				!strings.Contains(e.Message, tt.why) {
				t.Errorf("err = %v, want 401 CCE.01401001 because %s", err, tt.why)
			}
		})
	}
	t.Run("OfficialSDKShapeWithoutHost", func(t *testing.T) {
		// The official Go SDK signs user-agent, x-project-id and x-sdk-date, not host.
		req := signedRequest(t, srv, "SK", clk.Now(), map[string]string{
			"User-Agent": "huaweicloud-usdk-go/3.0", "X-Project-Id": project, "Content-Type": "application/json",
		}, []string{"user-agent", "x-project-id", "x-sdk-date"})
		if r := do(t, req); r.status != 200 {
			t.Errorf("answer %d %s", r.status, r.body)
		}
	})
	t.Run("UnsignedSecurityToken", func(t *testing.T) {
		req := signedRequest(t, srv, "SK", clk.Now(), nil, []string{"host", "x-sdk-date"})
		req.Header.Set("X-Security-Token", "sts")
		expectAnswer(t, do(t, req), 401, "CCE.01401001", "x-security-token")
	})
	t.Run("UnsignedSdkDate", func(t *testing.T) {
		req := signedRequest(t, srv, "SK", clk.Now(), nil, []string{"host"})
		expectAnswer(t, do(t, req), 401, "CCE.01401001", "x-sdk-date")
	})
}

func TestNoAuthConfiguredAcceptsAll(t *testing.T) {
	srv := ccetest.NewServer(ccetest.Options{AutoNodes: true})
	defer srv.Close()
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: authFunc(func(*http.Request, []byte) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShowNode(t.Context(), "p", "c", "n"); err != nil {
		t.Error(err)
	}
}

// authFunc adapts a function to cce.Authenticator.
type authFunc func(r *http.Request, body []byte) error

func (f authFunc) Authenticate(r *http.Request, body []byte) error { return f(r, body) }

// tamper signs correctly, then changes a signed header.
func tamper(now func() time.Time) func(*http.Request, []byte) error {
	return func(r *http.Request, body []byte) error {
		s := &cce.Signer{AK: "AK", SK: "SK", ProjectID: "p1", Now: now}
		if err := s.Authenticate(r, body); err != nil {
			return err
		}
		r.Header.Set("X-Project-Id", "p2")
		return nil
	}
}
