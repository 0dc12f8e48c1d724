package cce

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxExcerpt bounds the message kept from a body that is not JSON.
const maxExcerpt = 200

// maxRetryAfter is the longest Retry-After believed; longer is a broken header.
const maxRetryAfter = time.Hour

// parseErrorBody turns an error answer into an *Error. It never fails: the
// status is always kept, whatever the body holds. Both body spellings are
// understood, {"errorCode","errorMessage"} (CCE) and {"error_code",
// "error_msg"} (API gateway), and {"error":{"code","message"}} too.
func parseErrorBody(op string, status int, h http.Header, body []byte, now time.Time) *Error {
	e := &Error{Op: op, StatusCode: status, RequestID: oneLine(h.Get("X-Request-Id"), 128)}
	if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		e.Message = excerpt(body)
		return e
	}
	e.Code = firstString(fields, "errorCode", "error_code")
	e.Message = firstString(fields, "errorMessage", "error_msg")
	if nested, ok := fields["error"]; ok && (e.Code == "" || e.Message == "") {
		var inner map[string]json.RawMessage
		if json.Unmarshal(nested, &inner) == nil {
			e.Code = cmpOr(e.Code, firstString(inner, "code"))
			e.Message = cmpOr(e.Message, firstString(inner, "message"))
		} else {
			e.Message = cmpOr(e.Message, firstString(fields, "error"))
		}
	}
	e.Code = oneLine(e.Code, 64)
	e.Message = oneLine(e.Message, 1024)
	if e.Code == "" && e.Message == "" {
		e.Message = excerpt(body)
	}
	return e
}

// firstString returns the first of keys holding a JSON string or number.
func firstString(fields map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw := bytes.TrimSpace(fields[k])
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && n != "" {
			return n.String()
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// excerpt makes a short, single-line, printable message from a body that is
// not CCE JSON, such as a load balancer's HTML page.
func excerpt(body []byte) string {
	s := string(body[:min(len(body), 4096)])
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		s = htmlTag.ReplaceAllString(s, " ")
	}
	return oneLine(s, maxExcerpt)
}

// oneLine collapses whitespace and control characters to single spaces,
// drops invalid UTF-8, and cuts the result to at most max bytes on a rune
// boundary, marking a cut with "...".
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= max {
		return out
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + "..."
}

var retryAfterSeconds = regexp.MustCompile(`^[0-9]{1,10}(\.[0-9]{1,9})?$`)

// ParseRetryAfter reads a Retry-After value: delta-seconds ("5"), fractional
// seconds as CCE sends them ("56.818"), or an HTTP date (relative to now). It
// returns ok=false for anything else, and for negative, past or absurd
// (longer than an hour) values.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if retryAfterSeconds.MatchString(v) {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs > maxRetryAfter.Seconds() {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 || d > maxRetryAfter {
		return 0, false
	}
	return d, true
}
