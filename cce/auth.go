package cce

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Authenticator adds credentials to a request just before it is sent. body is
// exactly the bytes that will be sent (nil for none).
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) error
}

const redacted = "[redacted]"

// TokenAuth authenticates with an IAM token in the X-Auth-Token header. Its
// String, GoString, Format and MarshalJSON never reveal the token.
type TokenAuth struct {
	Token string
}

// Authenticate sets X-Auth-Token.
func (t TokenAuth) Authenticate(r *http.Request, _ []byte) error {
	if t.Token == "" {
		return errors.New("cce: token auth: empty token")
	}
	r.Header.Set("X-Auth-Token", t.Token)
	return nil
}

// String describes t without its token.
func (t TokenAuth) String() string { return t.GoString() }

// GoString describes t without its token.
func (t TokenAuth) GoString() string {
	return fmt.Sprintf("cce.TokenAuth{Token:%q}", redact(t.Token))
}

// Format prints t without its token for every verb, so that no %x or %d can
// dump the field.
func (t TokenAuth) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.GoString()) }

// MarshalJSON keeps the token out of JSON logs.
func (t TokenAuth) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"token":%q}`, redact(t.Token)), nil
}

// Signer authenticates with an access key pair by SDK-HMAC-SHA256 signing,
// as the Huawei Cloud API gateway expects. Its String, GoString, Format and
// MarshalJSON never reveal SK or SecurityToken.
type Signer struct {
	AK, SK string
	// SecurityToken comes with temporary credentials; when set it is sent as
	// X-Security-Token and signed.
	SecurityToken string
	// ProjectID, when set, is sent as X-Project-Id and signed.
	ProjectID string
	// Now is the clock for X-Sdk-Date; nil means time.Now.
	Now func() time.Time
}

// Authenticate sets X-Sdk-Date (and X-Project-Id, X-Security-Token when
// configured), then Authorization: "SDK-HMAC-SHA256 Access=<AK>,
// SignedHeaders=<h1;h2>, Signature=<sig>". It signs host and every header of
// r except Content-Type and names containing "_" (which gateways drop).
func (s *Signer) Authenticate(r *http.Request, body []byte) error {
	if s.AK == "" || s.SK == "" {
		return errors.New("cce: signer: AK and SK are required")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	r.Header.Del("Authorization")
	r.Header.Set(headerSignDate, now().UTC().Format(SignDateFormat))
	if s.ProjectID != "" {
		r.Header.Set("X-Project-Id", s.ProjectID)
	}
	if s.SecurityToken != "" {
		r.Header.Set("X-Security-Token", s.SecurityToken)
	}
	signed := signedHeaderNames(r.Header)
	sig, err := Signature(s.SK, r, body, signed)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", authorization(s.AK, signed, sig))
	return nil
}

// signedHeaderNames returns host and the lower-cased names of h, sorted,
// without content-type and names containing "_".
func signedHeaderNames(h http.Header) []string {
	names := []string{"host"}
	for name := range h {
		lower := strings.ToLower(name)
		if lower == "content-type" || lower == "host" || strings.Contains(lower, "_") {
			continue
		}
		names = append(names, lower)
	}
	sort.Strings(names)
	return names
}

// String describes s without its secrets.
func (s Signer) String() string { return s.GoString() }

// GoString describes s without its secrets; the access key id is not secret.
func (s Signer) GoString() string {
	return fmt.Sprintf("cce.Signer{AK:%q, SK:%q, SecurityToken:%q, ProjectID:%q}",
		s.AK, redact(s.SK), redact(s.SecurityToken), s.ProjectID)
}

// Format prints s without its secrets for every verb.
func (s Signer) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.GoString()) }

// MarshalJSON keeps the secrets out of JSON logs.
func (s Signer) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"ak":%q,"sk":%q,"securityToken":%q,"projectID":%q}`,
		s.AK, redact(s.SK), redact(s.SecurityToken), s.ProjectID), nil
}

// redact shows whether a secret is set, never what it is.
func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}
