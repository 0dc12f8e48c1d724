package cce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Credential is an access key pair, temporary when it has a security token
// and an expiry.
type Credential struct {
	AK, SK, SecurityToken string
	// Expires is when a temporary key stops working; zero for a lasting one.
	Expires time.Time
}

// KeySource hands out temporary access keys: the ECS metadata service,
// workload identity. project is the project of the call they are for.
type KeySource interface {
	Key(ctx context.Context, project string) (Credential, error)
}

// renewBefore is how long before a temporary key expires it is renewed, as
// the official SDK does; a key that lasts less than twice this is renewed
// once half its life has passed.
const renewBefore = 40 * time.Minute

// TemporaryKeys authenticates by signing with the temporary access keys a
// KeySource hands out, one kept per project, renewed when less than 40
// minutes (or half its life, for a short one) remain, and at once when CCE
// answers 401. A source that fails while the kept key still works leaves
// that key in use. It never shows a secret.
type TemporaryKeys struct {
	Source KeySource
	// What names the source in errors and logs, e.g. "ECS metadata".
	What string
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*heldKey // by project
}

type heldKey struct {
	mu       sync.Mutex // one renewal at a time per project
	cred     Credential
	obtained time.Time
}

// Authenticate signs r with a valid key of the call's project.
func (t *TemporaryKeys) Authenticate(r *http.Request, body []byte) error {
	project := ProjectOf(r.URL.Path)
	c, err := t.Key(r.Context(), project)
	if err != nil {
		return err
	}
	s := Signer{AK: c.AK, SK: c.SK, SecurityToken: c.SecurityToken, ProjectID: project, Now: t.Now}
	return s.Authenticate(r, body)
}

// Renew forgets the key of r's project: CCE refused it. It reports whether
// there was one.
func (t *TemporaryKeys) Renew(r *http.Request) bool {
	h := t.held(ProjectOf(r.URL.Path))
	h.mu.Lock()
	defer h.mu.Unlock()
	had := h.cred.AK != ""
	h.cred = Credential{}
	return had
}

func (t *TemporaryKeys) held(project string) *heldKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*heldKey{}
	}
	h := t.keys[project]
	if h == nil {
		h = &heldKey{}
		t.keys[project] = h
	}
	return h
}

func (t *TemporaryKeys) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Key returns a key of project that is not due for renewal, asking the
// source for a new one when it is.
func (t *TemporaryKeys) Key(ctx context.Context, project string) (Credential, error) {
	h := t.held(project)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := t.now()
	if h.cred.AK != "" && !dueForRenewal(h.cred, h.obtained, now) {
		return h.cred, nil
	}
	c, err := t.Source.Key(ctx, project)
	if err != nil {
		if h.cred.AK != "" && (h.cred.Expires.IsZero() || now.Before(h.cred.Expires)) {
			return h.cred, nil // the source is away: the kept key works a while yet
		}
		return Credential{}, fmt.Errorf("%s: %w", t.What, err)
	}
	h.cred, h.obtained = c, now
	return c, nil
}

// dueForRenewal reports whether c, obtained at obtained, should be renewed
// at now.
func dueForRenewal(c Credential, obtained, now time.Time) bool {
	if c.Expires.IsZero() {
		return false
	}
	margin := min(renewBefore, c.Expires.Sub(obtained)/2)
	return !now.Before(c.Expires.Add(-margin))
}

// String describes t without its keys.
func (t *TemporaryKeys) String() string { return "cce.TemporaryKeys{" + t.What + "}" }

// GoString describes t without its keys.
func (t *TemporaryKeys) GoString() string { return t.String() }

// Format prints t without its keys for every verb.
func (t *TemporaryKeys) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// MarshalJSON keeps the keys out of JSON logs.
func (t *TemporaryKeys) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"source":%q}`, t.What), nil
}

// parseCredential reads {"credential":{"access","secret","securitytoken",
// "expires_at"}}, as IAM's securitytokens and the ECS metadata service
// answer.
func parseCredential(raw []byte) (Credential, error) {
	var out struct {
		Credential struct {
			Access        string `json:"access"`
			Secret        string `json:"secret"`
			SecurityToken string `json:"securitytoken"`
			ExpiresAt     string `json:"expires_at"`
		} `json:"credential"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return Credential{}, fmt.Errorf("%w: the credential is not JSON", ErrBadAnswer)
	}
	c := out.Credential
	if c.Access == "" || c.Secret == "" || c.SecurityToken == "" {
		return Credential{}, fmt.Errorf("%w: the credential lacks access, secret or securitytoken", ErrBadAnswer)
	}
	expires, err := time.Parse(time.RFC3339Nano, c.ExpiresAt)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: credential.expires_at %q", ErrBadAnswer, c.ExpiresAt)
	}
	return Credential{AK: c.Access, SK: c.Secret, SecurityToken: c.SecurityToken, Expires: expires}, nil
}

// errSourceAnswer is how a credential service's refusal reads: its status
// and, from a JSON error body, the message (never a credential: these
// answers carry none on error).
func errSourceAnswer(what string, code int, raw []byte) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(raw, &e) == nil {
		msg = e.Error.Message
	}
	if msg == "" && len(raw) < 200 {
		msg = string(raw)
	}
	return errors.New(what + ": HTTP " + fmt.Sprint(code) + " " + msg)
}
