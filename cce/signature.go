package cce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SignDateFormat is the layout of the X-Sdk-Date header (always UTC).
const SignDateFormat = "20060102T150405Z"

const (
	signAlgorithm  = "SDK-HMAC-SHA256"
	headerSignDate = "X-Sdk-Date"
)

// Signature computes the lower-case hex SDK-HMAC-SHA256 signature of r over
// body with the secret key sk: the method, the canonical URI (every path
// segment percent-encoded, a "/" always appended), the canonical query, the
// signedHeaders' values taken from r ("host" from r.Host, else r.URL.Host),
// and the SHA-256 of body. X-Sdk-Date must be set on r. Signer uses it to
// sign and the fake server in package ccetest to verify.
func Signature(sk string, r *http.Request, body []byte, signedHeaders []string) (string, error) {
	if r == nil || r.URL == nil {
		return "", errors.New("cce: sign: no request or URL")
	}
	date := r.Header.Get(headerSignDate)
	if _, err := time.Parse(SignDateFormat, date); err != nil {
		return "", fmt.Errorf("cce: sign: header %s %q is not %s", headerSignDate, date, SignDateFormat)
	}
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", fmt.Errorf("cce: sign: %w", err)
	}
	headers, err := canonicalHeaders(r, signedHeaders)
	if err != nil {
		return "", fmt.Errorf("cce: sign: %w", err)
	}
	bodyHash := sha256.Sum256(body)
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		query,
		headers,
		strings.Join(signedHeaders, ";"),
		hex.EncodeToString(bodyHash[:]),
	}, "\n")
	requestHash := sha256.Sum256([]byte(canonical))
	stringToSign := signAlgorithm + "\n" + date + "\n" + hex.EncodeToString(requestHash[:])
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// canonicalURI percent-encodes each segment of the path as it travels on the
// wire (so an escaped "/" inside an id stays inside its segment) and ends the
// result with "/".
func canonicalURI(u *url.URL) string {
	segments := strings.Split(u.EscapedPath(), "/")
	for i, s := range segments {
		if raw, err := url.PathUnescape(s); err == nil {
			s = raw
		}
		segments[i] = signEscape(s)
	}
	p := strings.Join(segments, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// canonicalQuery sorts keys and, per key, values, both encoded like path
// segments, as k=v joined by "&".
func canonicalQuery(rawQuery string) (string, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("parse query: %w", err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), values[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, signEscape(k)+"="+signEscape(v))
		}
	}
	return strings.Join(pairs, "&"), nil
}

// canonicalHeaders writes "name:trimmed value\n" for every value of every
// signed header, in the order given. A signed header missing from r is an
// error: what is signed must be sent.
func canonicalHeaders(r *http.Request, signed []string) (string, error) {
	var b strings.Builder
	for _, name := range signed {
		var values []string
		if name == "host" {
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			values = []string{host}
		} else {
			values = append(values, r.Header.Values(name)...)
		}
		if len(values) == 0 {
			return "", fmt.Errorf("signed header %q is not in the request", name)
		}
		sort.Strings(values)
		for _, v := range values {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// signEscape percent-encodes every byte outside A-Za-z0-9-_.~ with upper-case
// hex.
func signEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// authorization formats the Authorization header value.
func authorization(ak string, signedHeaders []string, signature string) string {
	return signAlgorithm + " Access=" + ak + ", SignedHeaders=" + strings.Join(signedHeaders, ";") +
		", Signature=" + signature
}

// ParseAuthorization splits an "SDK-HMAC-SHA256 Access=<ak>,
// SignedHeaders=<h1;h2>, Signature=<hex>" header. The three parameters are
// required, may come in any order and may not repeat.
func ParseAuthorization(h string) (ak string, signedHeaders []string, signature string, err error) {
	rest, ok := strings.CutPrefix(h, signAlgorithm+" ")
	if !ok {
		return "", nil, "", fmt.Errorf("cce: authorization does not start with %q", signAlgorithm+" ")
	}
	seen := map[string]bool{}
	var headers string
	for part := range strings.SplitSeq(rest, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || value == "" {
			return "", nil, "", fmt.Errorf("cce: authorization parameter %q is not key=value", part)
		}
		if seen[key] {
			return "", nil, "", fmt.Errorf("cce: authorization repeats %s", key)
		}
		seen[key] = true
		switch key {
		case "Access":
			ak = value
		case "SignedHeaders":
			headers = value
		case "Signature":
			signature = value
		default:
			return "", nil, "", fmt.Errorf("cce: authorization has unknown parameter %q", key)
		}
	}
	if ak == "" || headers == "" || signature == "" {
		return "", nil, "", errors.New("cce: authorization needs Access, SignedHeaders and Signature")
	}
	signedHeaders = strings.Split(headers, ";")
	for _, name := range signedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return "", nil, "", fmt.Errorf("cce: authorization signed header %q is empty or not lower case", name)
		}
	}
	return ak, signedHeaders, signature, nil
}
