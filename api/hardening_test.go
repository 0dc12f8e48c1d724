package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/internal/testkit"
)

// Connections that promise a body and send nothing are closed after the
// read timeout, whatever they asked for.
func TestSlowBodiesAreCutOff(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addr := strings.TrimPrefix(h.url, "http://")
	closed := testkit.HoldBodies(t, addr, http.MethodPost, "/v1/removals", 150, "Authorization: Bearer "+token+"\r\n")
	testkit.WaitFor(t, 20*harnessReadTimeout, "the API to close 150 connections that promised a body", func() bool {
		return closed.Load() == 150
	})
}

// The access line has the path, never the query: a token put there stays
// out of the logs.
func TestAccessLogHasNoQuery(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const secret = "query-secret-0123456789"
	h.do(http.MethodGet, "/v1/removals?access_token="+secret+"&limit=1", "")
	h.do(http.MethodGet, "/v1/removals/"+url.PathEscape("nope")+"?token="+secret, "")
	logs := h.logs.String()
	if strings.Contains(logs, secret) {
		t.Fatalf("the query is logged:\n%s", logs)
	}
	var seen int
	for _, l := range logLines(t, h.logs) {
		if l["message"] == "http request" && (l["path"] == "/v1/removals" || l["path"] == "/v1/removals/nope") {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("%d access lines with the path, want 2:\n%s", seen, logs)
	}
}

// Two Authorization headers are refused, even when one holds a valid token:
// a proxy and the API could read different ones.
func TestTwoAuthorizationHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	two := func(r *http.Request) {
		r.Header["Authorization"] = []string{"Bearer " + token, "Bearer " + otherToken}
	}
	for _, path := range []string{"/v1/removals", "/v1/removals/x"} {
		a := h.do(http.MethodGet, path, "", two)
		wantProblem(t, a, http.StatusUnauthorized, "unauthorized", "", "more than one Authorization header")
	}
}

// Every answer says nosniff, successes and problems alike.
func TestNosniff(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/healthz", "/v1/openapi.json", "/v1/removals", "/nowhere"} {
		if a := h.do(http.MethodGet, path, ""); a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, a.header.Get("X-Content-Type-Options"))
		}
	}
}
