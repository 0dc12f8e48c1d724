package cce

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// TokenFile authenticates with an IAM token read from a file (a mounted
// Secret that something else renews), read again whenever the file
// changed, and at once when CCE answers 401. It never shows the token.
type TokenFile struct {
	Path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

// Authenticate sets X-Auth-Token to the file's token.
func (t *TokenFile) Authenticate(r *http.Request, _ []byte) error {
	tok, err := t.current(false)
	if err != nil {
		return err
	}
	r.Header.Set("X-Auth-Token", tok)
	return nil
}

// Renew reads the file again: CCE refused the token it held.
func (t *TokenFile) Renew(*http.Request) bool {
	before, _ := t.current(false)
	after, err := t.current(true)
	return err == nil && after != before
}

func (t *TokenFile) current(force bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.Path)
	if err != nil {
		if t.token != "" {
			return t.token, nil // a Secret being swapped: the last token until the file is back
		}
		return "", fmt.Errorf("cce: token file: %w", err)
	}
	if !force && t.token != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return t.token, nil
	}
	raw, err := os.ReadFile(t.Path)
	if err != nil {
		return "", fmt.Errorf("cce: token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		if t.token != "" {
			return t.token, nil
		}
		return "", errors.New("cce: token file " + t.Path + " is empty")
	}
	t.token, t.modTime, t.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// String describes t without its token.
func (t *TokenFile) String() string { return fmt.Sprintf("cce.TokenFile{Path:%q}", t.Path) }

// GoString describes t without its token.
func (t *TokenFile) GoString() string { return t.String() }

// Format prints t without its token for every verb.
func (t *TokenFile) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// MarshalJSON keeps the token out of JSON logs.
func (t *TokenFile) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"path":%q}`, t.Path), nil
}
