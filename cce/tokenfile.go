package cce

import (
	"fmt"
	"net/http"
	"sync"
)

// TokenFile authenticates with an IAM token read from a file (a mounted
// Secret that something else renews), read again whenever the file
// changed, and at once when CCE answers 401. It never shows the token.
type TokenFile struct {
	Path string

	once sync.Once
	file *watchedFile
}

// Authenticate sets X-Auth-Token to the file's token.
func (t *TokenFile) Authenticate(r *http.Request, _ []byte) error {
	tok, err := t.watched().read(false)
	if err != nil {
		return err
	}
	r.Header.Set("X-Auth-Token", tok)
	return nil
}

// Renew reads the file again: CCE refused the token it held. It reports
// whether the token changed.
func (t *TokenFile) Renew(*http.Request) bool {
	before, _ := t.watched().read(false)
	after, err := t.watched().read(true)
	return err == nil && after != before
}

func (t *TokenFile) watched() *watchedFile {
	t.once.Do(func() { t.file = &watchedFile{path: t.Path, what: "token file"} })
	return t.file
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
