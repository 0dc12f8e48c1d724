package removal

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-crypt/crypt/algorithm/shacrypt"
)

// DefaultUsername is the login user when a password comes without one.
const DefaultUsername = "root"

// MinPasswordLength and MaxPasswordLength bound a node password, in
// characters: CCE takes the ECS adminPass rule, 8 to 26.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 26
)

// PasswordSpecials are the special characters CCE allows in a node
// password; letters, digits and these are all it allows.
const PasswordSpecials = "!@$%^-_=+[{}]:,./?~#*"

// cryptPattern is a SHA-512 crypt string with the standard 5000 rounds left
// implicit, as crypt(3) writes it: $6$salt$hash.
var cryptPattern = regexp.MustCompile(`^\$6\$(rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`)

// HashPassword turns a node password of username (default root) into what
// CCE expects in userPassword.password: base64 of a SHA-512 crypt string with
// a random salt. It refuses, with CheckPassword's error, a password CCE would
// refuse. The plaintext goes no further than this call.
func HashPassword(plain, username string) (string, error) {
	if err := CheckPassword(plain, username); err != nil {
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

// CheckPassword checks a plaintext password against CCE's rule before it is
// hashed, since CCE cannot check a hash: 8 to 26 characters, at least three
// of upper-case letters, lower-case letters, digits and PasswordSpecials,
// nothing else, and neither username (default root) nor it reversed, in any
// case. Its messages never repeat the password.
func CheckPassword(plain, username string) error {
	if plain == "" {
		return errors.New("is empty")
	}
	if !utf8.ValidString(plain) {
		return errors.New("is not valid UTF-8")
	}
	// Named apart from the other characters CCE refuses: a newline or a
	// tab most likely came with the password by mistake.
	if strings.IndexFunc(plain, unicode.IsControl) >= 0 {
		return errors.New("holds a control character (a stray newline?)")
	}
	if n := utf8.RuneCountInString(plain); n < MinPasswordLength || n > MaxPasswordLength {
		unit := "characters"
		if n == 1 {
			unit = "character"
		}
		return fmt.Errorf("is %d %s; CCE wants %d to %d", n, unit, MinPasswordLength, MaxPasswordLength)
	}
	var upper, lower, digit, special bool
	for _, r := range plain {
		switch {
		case 'A' <= r && r <= 'Z':
			upper = true
		case 'a' <= r && r <= 'z':
			lower = true
		case '0' <= r && r <= '9':
			digit = true
		case strings.ContainsRune(PasswordSpecials, r):
			special = true
		default:
			return fmt.Errorf("holds a character CCE does not allow (only letters, digits and %s)", PasswordSpecials)
		}
	}
	kinds := 0
	for _, has := range []bool{upper, lower, digit, special} {
		if has {
			kinds++
		}
	}
	if kinds < 3 {
		return fmt.Errorf("needs at least three of: upper-case letters, lower-case letters, digits, special characters %s (it has %d)", PasswordSpecials, kinds)
	}
	if username == "" {
		username = DefaultUsername
	}
	user, pw := strings.ToLower(username), strings.ToLower(plain)
	if strings.Contains(pw, user) || strings.Contains(pw, reverse(user)) {
		return fmt.Errorf("contains the user name %q (or it reversed)", username)
	}
	return nil
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
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
