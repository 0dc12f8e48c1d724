package removal

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/go-crypt/crypt/algorithm/shacrypt"
)

// DefaultUsername is the login user when a password comes without one.
const DefaultUsername = "root"

// MaxPasswordLength bounds a node password, in characters (as the HTTP API's
// JSON Schema counts them).
const MaxPasswordLength = 128

// cryptPattern is a SHA-512 crypt string with the standard 5000 rounds left
// implicit, as crypt(3) writes it: $6$salt$hash.
var cryptPattern = regexp.MustCompile(`^\$6\$(rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`)

// HashPassword turns a node password into what CCE expects in
// userPassword.password: base64 of a SHA-512 crypt string with a random salt.
// The plaintext goes no further than this call.
func HashPassword(plain string) (string, error) {
	if err := CheckPassword(plain); err != nil {
		return "", err
	}
	h, err := shacrypt.New(shacrypt.WithSHA512(), shacrypt.WithIterations(shacrypt.IterationsDefaultOmitted), shacrypt.WithSaltLength(16))
	if err != nil {
		return "", fmt.Errorf("password hasher: %w", err)
	}
	d, err := h.Hash(plain)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return base64.StdEncoding.EncodeToString([]byte(d.Encode())), nil
}

// CheckPassword checks a plaintext password before it is hashed. Its
// messages never repeat the password.
func CheckPassword(plain string) error {
	if plain == "" {
		return errors.New("is empty")
	}
	if !utf8.ValidString(plain) {
		return errors.New("is not valid UTF-8")
	}
	if utf8.RuneCountInString(plain) > MaxPasswordLength {
		return fmt.Errorf("is longer than %d characters", MaxPasswordLength)
	}
	for _, r := range plain {
		if unicode.IsControl(r) {
			return errors.New("holds a control character (a stray newline?)")
		}
	}
	return nil
}

// CheckPasswordHash checks that h is base64 of a SHA-512 crypt string.
func CheckPasswordHash(h string) error {
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return errors.New("is not base64 of a SHA-512 crypt string")
	}
	if !cryptPattern.Match(raw) {
		return errors.New("is not base64 of a SHA-512 crypt string ($6$salt$hash)")
	}
	return nil
}

// VerifyPassword reports whether plain is the password behind hash (a value
// made by HashPassword). Tests and the fake CCE use it.
func VerifyPassword(hash, plain string) bool {
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil {
		return false
	}
	d, err := shacrypt.Decode(string(raw))
	if err != nil {
		return false
	}
	return d.Match(plain)
}
