package cce

import (
	"fmt"
	"net/http"
	"sync"
)

// KeyFiles authenticates by signing with an access key pair kept in files
// (HUAWEICLOUD_SDK_AK_FILE, HUAWEICLOUD_SDK_SK_FILE and, for a temporary
// key, HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE: a mounted Secret), read again
// whenever a file changed and at once when CCE answers 401, so a rotated
// Secret is used without a restart. It never shows a secret.
type KeyFiles struct {
	AKFile, SKFile, SecurityTokenFile string

	once             sync.Once
	ak, sk, secToken *watchedFile
}

func (k *KeyFiles) files() {
	k.once.Do(func() {
		k.ak = &watchedFile{path: k.AKFile, what: "HUAWEICLOUD_SDK_AK_FILE"}
		k.sk = &watchedFile{path: k.SKFile, what: "HUAWEICLOUD_SDK_SK_FILE"}
		if k.SecurityTokenFile != "" {
			k.secToken = &watchedFile{path: k.SecurityTokenFile, what: "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE"}
		}
	})
}

// Credential is the key pair the files hold now (force: read them again).
func (k *KeyFiles) Credential(force bool) (Credential, error) {
	k.files()
	var c Credential
	var err error
	if c.AK, err = k.ak.read(force); err != nil {
		return Credential{}, err
	}
	if c.SK, err = k.sk.read(force); err != nil {
		return Credential{}, err
	}
	if k.secToken != nil {
		if c.SecurityToken, err = k.secToken.read(force); err != nil {
			return Credential{}, err
		}
	}
	return c, nil
}

// Authenticate signs r with the files' key pair.
func (k *KeyFiles) Authenticate(r *http.Request, body []byte) error {
	c, err := k.Credential(false)
	if err != nil {
		return err
	}
	s := Signer{AK: c.AK, SK: c.SK, SecurityToken: c.SecurityToken, ProjectID: ProjectOf(r.URL.Path)}
	return s.Authenticate(r, body)
}

// Renew reads the files again: CCE refused the key. It reports whether the
// key changed.
func (k *KeyFiles) Renew(*http.Request) bool {
	before, _ := k.Credential(false)
	after, err := k.Credential(true)
	return err == nil && after != before
}

// String describes k without its secrets.
func (k *KeyFiles) String() string {
	return fmt.Sprintf("cce.KeyFiles{AKFile:%q, SKFile:%q, SecurityTokenFile:%q}", k.AKFile, k.SKFile, k.SecurityTokenFile)
}

// GoString describes k without its secrets.
func (k *KeyFiles) GoString() string { return k.String() }

// Format prints k without its secrets for every verb.
func (k *KeyFiles) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// MarshalJSON keeps the secrets out of JSON logs.
func (k *KeyFiles) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"akFile":%q,"skFile":%q,"securityTokenFile":%q}`, k.AKFile, k.SKFile, k.SecurityTokenFile), nil
}
