package dashboard

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
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
		if out, err := marshalLeading(redactValue(v)); err == nil {
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

// leadingKeys come first in a shown object, the rest in key order: asynqmon
// shows of a task id only what stands before its first "-" (it takes every
// id for a UUID: remove:third-c shows as remove:third), so the payload
// column, which it shows whole, is where a request is found by its id.
var leadingKeys = []string{"request_id", "request_ids", "state"}

// marshalLeading is json.Marshal with a top-level object's leadingKeys
// first; asynqmon's UI keeps that order when it pretty-prints.
func marshalLeading(v any) ([]byte, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return json.Marshal(v)
	}
	keys := make([]string, 0, len(m))
	for _, k := range leadingKeys {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(leadingKeys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range append(keys, rest...) {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
