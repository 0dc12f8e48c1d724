package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// pageHeaders sets what every dashboard answer carries: no framing
// (clickjacking), a Content-Security-Policy that allows what asynqmon's
// page loads and nothing else, no sniffing, no referrer.
//
// asynqmon's index.html (ui/build in its module) runs two inline scripts
// (its settings and webpack's loader), loads its JS and CSS from the same
// origin, lets Material-UI inject <style> elements, uses data: images, and
// links Roboto and Material Icons from Google Fonts. The inline scripts
// are allowed by their SHA-256, computed from the page as asynqmon renders
// it, so no other inline script runs.
func pageHeaders(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// contentSecurityPolicy is the policy for the page index renders.
func contentSecurityPolicy(index []byte) string {
	scripts := []string{"'self'"}
	for _, m := range inlineScript.FindAllSubmatch(index, -1) {
		sum := sha256.Sum256(m[1])
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src " + strings.Join(scripts, " "),
		"style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
		"font-src 'self' https://fonts.gstatic.com",
		"img-src 'self' data:",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// renderIndex is asynqmon's page as h serves it.
func renderIndex(h http.Handler, root string) []byte {
	rec := &pageRecorder{header: http.Header{}}
	h.ServeHTTP(rec, &http.Request{Method: http.MethodGet, URL: mustPath(root + "/"), Header: http.Header{}, Host: "localhost"})
	return rec.body.Bytes()
}

// pageRecorder keeps what a handler wrote.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (p *pageRecorder) Header() http.Header         { return p.header }
func (p *pageRecorder) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *pageRecorder) WriteHeader(int)             {}

// crossSite refuses a changing call (not GET, HEAD or OPTIONS) that a
// browser says comes from another site: Sec-Fetch-Site other than
// same-origin or none, or an Origin whose host is not the request's Host
// (net/http's CrossOriginProtection). A call without either header, as curl
// makes it, passes; it still needs the basic auth.
func crossSite(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-site request refused: the dashboard changes nothing for a page of another origin "+
			"(Origin "+quoteOrNone(r.Header.Get("Origin"))+", Sec-Fetch-Site "+quoteOrNone(r.Header.Get("Sec-Fetch-Site"))+
			", Host "+r.Host+")", http.StatusForbidden)
	}))
	return p.Handler(next)
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return `"` + s + `"`
}

func mustPath(p string) *url.URL { return &url.URL{Path: p} }
