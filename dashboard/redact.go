package dashboard

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// redacted replaces login material in what the dashboard shows.
const redacted = "[redacted]"

// secretKeys are JSON object keys whose values are never shown: password
// material in any spelling a payload might use. SSH key pair names are not
// secret and stay.
var secretKeys = map[string]bool{
	"password": true, "password_hash": true, "passwordhash": true, "userpassword": true,
	"user_password": true, "token": true, "secret": true, "sk": true,
}

// cryptPattern finds SHA crypt strings and base64 of them ("$6$" is "JDYk").
var cryptPattern = regexp.MustCompile(`\$[56]\$[^\s"]*|JD[UY]k[A-Za-z0-9+/=]*`)

// Redact returns payload as the dashboard shows it: JSON with every secret
// value replaced, anything else as text with crypt strings replaced.
func Redact(payload []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if out, err := json.Marshal(redactValue(v)); err == nil {
			return cryptPattern.ReplaceAllString(string(out), redacted)
		}
	}
	return cryptPattern.ReplaceAllString(string(payload), redacted)
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if secretKeys[strings.ToLower(k)] {
				t[k] = redacted
				continue
			}
			t[k] = redactValue(val)
		}
	case []any:
		for i := range t {
			t[i] = redactValue(t[i])
		}
	}
	return v
}
