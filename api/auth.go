package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/noderemover/noderemover/internal/httpserver"
)

// tokens are the accepted bearer tokens, kept as SHA-256 sums so every
// comparison takes the same time whatever the length of what was sent.
type tokens [][sha256.Size]byte

func newTokens(ts []string) tokens {
	var out tokens
	for _, t := range ts {
		if t != "" { // an empty token would let an empty credential in
			out = append(out, sha256.Sum256([]byte(t)))
		}
	}
	return out
}

// accept reports whether an Authorization header carries one of the tokens.
// It compares against every token, without stopping at a match, so the
// time taken says nothing about which token matched or how much of one.
func (ts tokens) accept(authorization string) bool {
	scheme, credential, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	credential = strings.TrimLeft(credential, " ")
	if credential == "" {
		return false
	}
	sum := sha256.Sum256([]byte(credential))
	match := 0
	for _, t := range ts {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

// authorized lets a request through to next only with a valid token, in
// the request's one Authorization header.
func (s *server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if httpserver.OneAuthorization(r) && s.tokens.accept(r.Header.Get("Authorization")) {
			next(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="noderemover"`)
		detail := "send Authorization: Bearer TOKEN with one of the API's tokens (API_TOKENS)"
		if !httpserver.OneAuthorization(r) {
			detail = "the request carries more than one Authorization header, and none is read; send exactly one: " + detail
		} else if r.Header.Get("Authorization") != "" {
			detail = "the Authorization header holds no valid bearer token; " + detail
		}
		writeProblem(w, r, problem{Type: typeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: detail})
	}
}
