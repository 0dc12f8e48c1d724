package cce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IAMPassword authenticates with IAM tokens it obtains itself: POST
// {Endpoint}/v3/auth/tokens with the password method, scoped to the project
// of the call, as IAM documents it (the token in the X-Subject-Token header,
// token.expires_at in the body). One token is kept per project and renewed
// once half its life has passed (IAM's last 24 hours: renewed after 12),
// and at once when CCE answers a call 401 (the client asks Renew). It never
// shows the password: not in String, GoString, Format, JSON or errors.
type IAMPassword struct {
	Endpoint string // IAM's base URL, e.g. https://iam.cn-north-4.myhuaweicloud.com
	Domain   string // the account (domain) name
	User     string
	// Password returns the password; it is asked at every renewal, so a
	// password file that changed is read again.
	Password func() (string, error)
	// HTTP is the client for IAM; nil is a client with a 30 s timeout.
	HTTP *http.Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu     sync.Mutex
	tokens map[string]*iamToken // by project
}

type iamToken struct {
	mu              sync.Mutex // one renewal at a time per project
	value           string
	issued, expires time.Time
}

// Authenticate sets X-Auth-Token to a valid token of the call's project.
func (a *IAMPassword) Authenticate(r *http.Request, _ []byte) error {
	project := ProjectOf(r.URL.Path)
	if project == "" {
		return errors.New("cce: IAM password auth: the call names no project")
	}
	tok, err := a.Token(r.Context(), project)
	if err != nil {
		return err
	}
	r.Header.Set("X-Auth-Token", tok)
	return nil
}

// Renew forgets the token of r's project: CCE refused it (401), and the
// next call asks IAM for a new one. It reports whether there was one.
func (a *IAMPassword) Renew(r *http.Request) bool {
	t := a.entry(ProjectOf(r.URL.Path))
	t.mu.Lock()
	defer t.mu.Unlock()
	had := t.value != ""
	t.value = ""
	return had
}

func (a *IAMPassword) entry(project string) *iamToken {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tokens == nil {
		a.tokens = map[string]*iamToken{}
	}
	t := a.tokens[project]
	if t == nil {
		t = &iamToken{}
		a.tokens[project] = t
	}
	return t
}

func (a *IAMPassword) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Token returns a token of project that is valid for at least half of its
// life, asking IAM for a new one when the one kept is older.
func (a *IAMPassword) Token(ctx context.Context, project string) (string, error) {
	t := a.entry(project)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := a.now()
	if t.value != "" && now.Before(t.issued.Add(t.expires.Sub(t.issued)/2)) {
		return t.value, nil
	}
	value, expires, err := a.fetch(ctx, project)
	if err != nil {
		if t.value != "" && now.Before(t.expires) {
			return t.value, nil // IAM is away: the kept token still works a while
		}
		return "", err
	}
	t.value, t.issued, t.expires = value, now, expires
	return value, nil
}

func (a *IAMPassword) fetch(ctx context.Context, project string) (string, time.Time, error) {
	password, err := a.Password()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cce: IAM password auth: read the password: %w", err)
	}
	body, err := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": a.User, "password": password, "domain": map[string]any{"name": a.Domain}}}},
		"scope": map[string]any{"project": map[string]any{"id": project}},
	}})
	if err != nil {
		return "", time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.Endpoint, "/")+"/v3/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cce: IAM password auth: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cce: IAM password auth: ask IAM for a token of project %s: %w", project, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return "", time.Time{}, fmt.Errorf("cce: IAM refused a token for user %s of %s, project %s: HTTP %d %s",
			a.User, a.Domain, project, resp.StatusCode, strings.ReplaceAll(e.Error.Message, password, redacted))
	}
	var out struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	token := resp.Header.Get("X-Subject-Token")
	if err := json.Unmarshal(raw, &out); err != nil || token == "" {
		return "", time.Time{}, fmt.Errorf("cce: IAM password auth: %w: no X-Subject-Token or token body", ErrBadAnswer)
	}
	expires, err := time.Parse(time.RFC3339Nano, out.Token.ExpiresAt)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cce: IAM password auth: %w: token.expires_at %q", ErrBadAnswer, out.Token.ExpiresAt)
	}
	return token, expires, nil
}

// String describes a without its password.
func (a *IAMPassword) String() string { return a.GoString() }

// GoString describes a without its password.
func (a *IAMPassword) GoString() string {
	return fmt.Sprintf("cce.IAMPassword{Endpoint:%q, Domain:%q, User:%q, Password:%s}", a.Endpoint, a.Domain, a.User, redacted)
}

// Format prints a without its password for every verb.
func (a *IAMPassword) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.GoString()) }

// MarshalJSON keeps the password out of JSON logs.
func (a *IAMPassword) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"endpoint":%q,"domain":%q,"user":%q,"password":%q}`, a.Endpoint, a.Domain, a.User, redacted), nil
}

// Renewer is an Authenticator whose credentials can be renewed when CCE
// answers 401: the client asks once, and sends the call again once.
type Renewer interface {
	Renew(r *http.Request) bool
}

// ProjectOf is the project of a CCE path (/api/v3/projects/{id}/...), ""
// for another path.
func ProjectOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/api/v3/projects/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}
