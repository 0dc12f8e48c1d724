package ccetest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func post(t *testing.T, url string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// TestIAMExchangesOnlyTheTokensItsIdPIssued: the workload-identity
// endpoints are as strict as IAM: the IdP named, a token it issued and not
// expired, a project scope; securitytokens takes only a valid IAM token and
// a duration IAM allows.
func TestIAMExchangesOnlyTheTokensItsIdPIssued(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam := ccetest.NewIAM(ccetest.IAMOptions{IdPID: "idp-1", Now: clock.Now})
	t.Cleanup(iam.Close)
	idToken := iam.IssueIDToken(time.Minute)
	exchange := iam.URL + "/v3.0/OS-AUTH/id-token/tokens"
	body := func(tok string) string {
		return `{"auth":{"id_token":{"id":"` + tok + `"},"scope":{"project":{"id":"` + iamProject + `"}}}}`
	}
	for name, c := range map[string]struct {
		idp, body string
		want      int
	}{
		"no idp header":    {"", body(idToken), 400},
		"another idp":      {"idp-2", body(idToken), 404},
		"unknown token":    {"idp-1", body("eyJforged"), 401},
		"no scope":         {"idp-1", `{"auth":{"id_token":{"id":"` + idToken + `"}}}`, 400},
		"an unknown field": {"idp-1", `{"auth":{"id_token":{"id":"` + idToken + `"},"extra":1}}`, 400},
	} {
		if code, _, _ := post(t, exchange, map[string]string{"X-Idp-Id": c.idp}, c.body); code != c.want {
			t.Errorf("%s: %d, want %d", name, code, c.want)
		}
	}
	code, h, _ := post(t, exchange, map[string]string{"X-Idp-Id": "idp-1"}, body(idToken))
	token := h.Get("X-Subject-Token")
	if code != 201 || token == "" {
		t.Fatalf("a good exchange: %d, token %q", code, token)
	}

	keys := iam.URL + "/v3.0/OS-CREDENTIAL/securitytokens"
	keyBody := func(seconds string) string {
		return `{"auth":{"identity":{"methods":["token"],"token":{"duration_seconds":` + seconds + `}}}}`
	}
	if code, _, _ := post(t, keys, map[string]string{"X-Auth-Token": "MIIforged"}, keyBody("900")); code != 401 {
		t.Errorf("a forged token: %d, want 401", code)
	}
	if code, _, _ := post(t, keys, map[string]string{"X-Auth-Token": token}, keyBody("60")); code != 400 {
		t.Errorf("60 seconds: %d, want 400", code)
	}
	if code, _, b := post(t, keys, map[string]string{"X-Auth-Token": token}, keyBody("900")); code != 201 || !strings.Contains(b, `"securitytoken"`) {
		t.Errorf("a good request: %d %s", code, b)
	}
	clock.Advance(2 * time.Minute)
	if code, _, _ := post(t, exchange, map[string]string{"X-Idp-Id": "idp-1"}, body(idToken)); code != 401 {
		t.Errorf("an expired id token: %d, want 401", code)
	}
}

// TestTemporaryKeysExpireAtCCE: CCE takes a temporary key with its
// security token until the key expires; without the token, or after, 401.
// The metadata service wants its token step.
func TestTemporaryKeysExpireAtCCE(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam := ccetest.NewIAM(ccetest.IAMOptions{Now: clock.Now})
	t.Cleanup(iam.Close)
	md := ccetest.NewMetadata(ccetest.MetadataOptions{IAM: iam, KeyTTL: 20 * time.Second})
	t.Cleanup(md.Close)
	srv := ccetest.NewServer(ccetest.Options{IAM: iam, Now: clock.Now, AutoNodes: true})
	t.Cleanup(srv.Close)

	resp, err := http.Get(md.URL + "/openstack/latest/securitykey")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("securitykey without the token step: %d, want 401", resp.StatusCode)
	}
	key, err := (cce.ECSMetadata{Endpoint: md.URL}).Key(context.Background(), iamProject)
	if err != nil {
		t.Fatal(err)
	}
	call := func(s *cce.Signer) int {
		s.Now = clock.Now
		c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: s})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ShowNode(context.Background(), iamProject, "c1", "00000000-0000-4000-8000-000000000001")
		return statusOf(err)
	}
	if code := call(&cce.Signer{AK: key.AK, SK: key.SK, SecurityToken: key.SecurityToken}); code != 0 {
		t.Errorf("a fresh key: %d", code)
	}
	if code := call(&cce.Signer{AK: key.AK, SK: key.SK}); code != 401 {
		t.Errorf("without its security token: %d, want 401", code)
	}
	clock.Advance(21 * time.Second)
	if code := call(&cce.Signer{AK: key.AK, SK: key.SK, SecurityToken: key.SecurityToken}); code != 401 {
		t.Errorf("an expired key: %d, want 401", code)
	}
}
