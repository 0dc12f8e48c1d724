// Package webhook signs and verifies callbacks as the Standard Webhooks
// specification says (https://www.standardwebhooks.com): the headers
// webhook-id, webhook-timestamp and webhook-signature, the signature being
// "v1," and the base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>" with the
// secret given as "whsec_<base64 key>". Workers sign with it; a producer
// written in Go verifies what it receives with Verify.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed callback.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a callback's timestamp may be from the
// receiver's clock before Verify refuses it (a replay).
const DefaultTolerance = 5 * time.Minute

// Key is a decoded signing secret.
type Key []byte

// ParseSecret reads a secret in the spec's "whsec_<base64>" form.
func ParseSecret(secret string) (Key, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("webhook secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret: what follows whsec_ is not base64")
	}
	return Key(key), nil
}

// Signature is the webhook-signature value of a message.
func (k Key) Signature(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign sets the three headers of a callback with id and body, sent at ts.
func (k Key) Sign(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, k.Signature(id, ts, body))
}

// Verify checks a received callback: its timestamp is within tolerance of
// now and one of its signatures (space-separated, as the spec allows during a
// key rotation) is body's under k. It returns the webhook-id (the event id),
// by which a receiver drops a delivery it saw before.
func (k Key) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) (string, error) {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return "", errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature is missing")
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", fmt.Errorf("webhook: webhook-timestamp %q is not Unix seconds", tsText)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return "", fmt.Errorf("webhook: timestamp %s is more than %s from now", ts.UTC().Format(time.RFC3339), tolerance)
	}
	want := k.Signature(id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return id, nil
		}
	}
	return "", errors.New("webhook: no signature matches")
}
