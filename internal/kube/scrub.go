package kube

import "regexp"

// secretLike is what in an error message could be key or certificate
// material: a PEM block, or a long run of base64 (client-key-data).
var secretLike = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)|[A-Za-z0-9+/=_-]{40,}`)

// scrubbedError is an error whose message has any secret-like text
// replaced; errors.Is and errors.As still see the error it wraps.
type scrubbedError struct{ err error }

func (e *scrubbedError) Error() string { return secretLike.ReplaceAllString(e.err.Error(), "[hidden]") }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubbed wraps err so that its message can quote no secret: errors of
// parsers and issuers that were handed a kubeconfig.
func scrubbed(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err: err}
}
