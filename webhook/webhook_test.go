package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/webhook"
)

// The example of the Standard Webhooks specification and its libraries'
// tests.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignatureMatchesTheSpec(t *testing.T) {
	k, err := webhook.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Signature(specID, time.Unix(specTimestamp, 0), []byte(specBody)); got != specSignature {
		t.Fatalf("signature %s, want %s", got, specSignature)
	}
}

func TestVerify(t *testing.T) {
	k, _ := webhook.ParseSecret(specSecret)
	other, _ := webhook.ParseSecret("whsec_" + strings.Repeat("QUJD", 8))
	now := time.Unix(specTimestamp, 0)
	h := http.Header{}
	k.Sign(h, specID, now, []byte(specBody))
	if id, err := k.Verify(h, []byte(specBody), now.Add(time.Minute), webhook.DefaultTolerance); err != nil || id != specID {
		t.Fatalf("verify: %q %v", id, err)
	}
	for name, tc := range map[string]struct {
		key  webhook.Key
		body string
		now  time.Time
	}{
		"other key":       {other, specBody, now},
		"body changed":    {k, specBody + " ", now},
		"too old":         {k, specBody, now.Add(6 * time.Minute)},
		"from the future": {k, specBody, now.Add(-6 * time.Minute)},
	} {
		if _, err := tc.key.Verify(h, []byte(tc.body), tc.now, webhook.DefaultTolerance); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// Several signatures (a key rotation): one match is enough.
	h.Set(webhook.HeaderSignature, other.Signature(specID, now, []byte(specBody))+" "+h.Get(webhook.HeaderSignature))
	if _, err := k.Verify(h, []byte(specBody), now, webhook.DefaultTolerance); err != nil {
		t.Errorf("rotation: %v", err)
	}
	for _, bad := range []string{"", "MfKQ", "whsec_!!!"} {
		if _, err := webhook.ParseSecret(bad); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
}
