package dashboard_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/tasks"
)

func do(tb testing.TB, method, url string, header map[string]string, auth bool) (int, http.Header, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth {
		req.SetBasicAuth("ops", "s3cret")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// A changing call from a page of another site is refused; from the
// dashboard's own page, or from curl (no Origin), it goes through.
func TestCrossSiteChangesAreRefused(t *testing.T) {
	hs, q := newDashboard(t, false)
	host := strings.TrimPrefix(hs.URL, "http://")
	task := func() string {
		info, err := q.Enqueue(asynq.NewTask(tasks.TypeRemoveNodes, []byte(`{}`)), asynq.Queue(tasks.Queue))
		if err != nil {
			t.Fatal(err)
		}
		return hs.URL + "/api/queues/" + tasks.Queue + "/pending_tasks/" + info.ID
	}
	cases := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"OtherOrigin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"OtherPort", map[string]string{"Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"NullOrigin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"CrossSiteFetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"SameSiteFetch", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://" + host}, http.StatusForbidden},
		{"OwnPage", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, http.StatusNoContent},
		{"OwnOriginOldBrowser", map[string]string{"Origin": "http://" + host}, http.StatusNoContent},
		{"Curl", nil, http.StatusNoContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, http.MethodDelete, task(), tc.header, true)
			if code != tc.want {
				t.Fatalf("DELETE: %d %q, want %d", code, body, tc.want)
			}
			if code == http.StatusForbidden && !strings.Contains(body, "cross-site request refused") {
				t.Errorf("the refusal does not say why: %q", body)
			}
		})
	}
	t.Run("ReadingFromAnotherSite", func(t *testing.T) {
		// GET changes nothing; what another site could read is up to the browser's CORS, which asynqmon does not open.
		code, h, _ := do(t, http.MethodGet, hs.URL+"/api/queues", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, true)
		if code != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET: %d, Access-Control-Allow-Origin %q", code, h.Get("Access-Control-Allow-Origin"))
		}
	})
}

func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	hs, _ := newDashboard(t, false)
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/queues", nil)
	req.SetBasicAuth("ops", "s3cret")
	req.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("other:guess")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "more than one Authorization header") {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}

// The page cannot be framed, and its policy allows exactly its own inline
// scripts (by hash), its own JS and CSS, and Google's fonts.
func TestPageHeaders(t *testing.T) {
	hs, _ := newDashboard(t, false)
	code, h, page := do(t, http.MethodGet, hs.URL+"/", nil, true)
	if code != http.StatusOK {
		t.Fatalf("%d", code)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if h.Get(k) != want {
			t.Errorf("%s %q, want %q", k, h.Get(k), want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "img-src 'self' data:",
		"style-src 'self' 'unsafe-inline' https://fonts.googleapis.com", "font-src 'self' https://fonts.gstatic.com"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("scripts are not held to their hashes: %s", csp)
	}
	inline := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(inline) == 0 {
		t.Fatal("asynqmon's page has no inline script any more; check what its policy needs")
	}
	for _, m := range inline {
		sum := sha256.Sum256([]byte(m[1]))
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("the policy does not allow the page's inline script %.60q", m[1])
		}
	}
	// Every script and stylesheet the page loads is its own, or a font the policy names.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if u := m[1]; !strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "https://fonts.googleapis.com/") {
			t.Errorf("the page loads %s, which its policy does not allow", u)
		}
	}
	if code, h, _ := do(t, http.MethodGet, hs.URL+"/api/queues", nil, true); code != 200 || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("API answer %d without nosniff", code)
	}
}
