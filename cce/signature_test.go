package cce_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// vectorRequest builds a request as the reference's test vectors describe
// it: host example.huaweicloud.com and X-Sdk-Date 20060102T150405Z.
func vectorRequest(tb testing.TB, method, target string, body []byte) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(method, "https://example.huaweicloud.com"+target, bytes.NewReader(body))
	r.Header.Set("X-Sdk-Date", "20060102T150405Z")
	r.Header.Set("Content-Type", "application/json") // never signed
	r.Header.Set("TEST_UNDERSCORE", "TEST_VALUE")    // never signed
	return r
}

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name, method, target, body, want string
	}{
		{"GetWithQuery", "GET", "/path?limit=1", "",
			"5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"},
		{"PostWithBody", "POST", "/path?key=value", "{\"Name\":\"test\",\"Id\":1}\n",
			"cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vectorRequest(t, tt.method, tt.target, []byte(tt.body))
			got, err := cce.Signature("SecretKey", r, []byte(tt.body), []string{"x-sdk-date"})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSignatureNeedsSignedHeadersAndDate(t *testing.T) {
	t.Run("MissingSignedHeader", func(t *testing.T) {
		r := vectorRequest(t, "GET", "/path", nil)
		if _, err := cce.Signature("sk", r, nil, []string{"x-project-id", "x-sdk-date"}); err == nil {
			t.Error("Signature signed a header the request does not carry")
		}
	})
	t.Run("NoDate", func(t *testing.T) {
		r := vectorRequest(t, "GET", "/path", nil)
		r.Header.Del("X-Sdk-Date")
		if _, err := cce.Signature("sk", r, nil, []string{"host"}); err == nil {
			t.Error("Signature accepted a request without X-Sdk-Date")
		}
	})
}

func TestSignerRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s := &cce.Signer{AK: "AK1", SK: "SK1", SecurityToken: "STS", ProjectID: "proj",
		Now: func() time.Time { return at }}
	body := []byte(`{"spec":{}}`)
	r := httptest.NewRequest("PUT", "https://cce.example.com/api/v3/projects/p%2Fx/a%20b?b=2&a=1&a=0", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X_Skipped", "x")
	if err := s.Authenticate(r, body); err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("X-Sdk-Date"); got != "20250304T050607Z" {
		t.Errorf("X-Sdk-Date = %q", got)
	}
	if r.Header.Get("X-Project-Id") != "proj" || r.Header.Get("X-Security-Token") != "STS" {
		t.Errorf("X-Project-Id/X-Security-Token not set: %v", r.Header)
	}
	ak, signed, sig, err := cce.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	wantSigned := []string{"accept", "host", "x-project-id", "x-sdk-date", "x-security-token"}
	if ak != "AK1" || !slices.Equal(signed, wantSigned) {
		t.Errorf("Access=%s SignedHeaders=%v, want AK1 %v", ak, signed, wantSigned)
	}
	want, err := cce.Signature("SK1", r, body, signed)
	if err != nil || want != sig {
		t.Errorf("verify: Signature = %s, %v; header has %s", want, err, sig)
	}
	t.Run("TamperedBody", func(t *testing.T) {
		if other, _ := cce.Signature("SK1", r, []byte(`{}`), signed); other == sig {
			t.Error("signature does not cover the body")
		}
	})
	t.Run("TamperedHost", func(t *testing.T) {
		r2 := r.Clone(r.Context())
		r2.Host = "evil.example.com"
		if other, _ := cce.Signature("SK1", r2, body, signed); other == sig {
			t.Error("signature does not cover the host")
		}
	})
}

func TestParseAuthorization(t *testing.T) {
	good := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc"
	ak, signed, sig, err := cce.ParseAuthorization(good)
	if err != nil || ak != "AK" || !slices.Equal(signed, []string{"host", "x-sdk-date"}) || sig != "abc" {
		t.Fatalf("ParseAuthorization(%q) = %q %v %q %v", good, ak, signed, sig, err)
	}
	bad := map[string]string{
		"Empty":           "",
		"OtherAlgorithm":  "AWS4-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abc",
		"NoSignature":     "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",
		"EmptyAccess":     "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=abc",
		"Repeated":        "SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=abc",
		"Unknown":         "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abc, Extra=1",
		"EmptyHeaderName": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=abc",
		"UpperHeaderName": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host, Signature=abc",
		"NotKeyValue":     "SDK-HMAC-SHA256 Access",
	}
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := cce.ParseAuthorization(h); err == nil {
				t.Errorf("ParseAuthorization(%q) accepted it", h)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-VALUE"
	values := map[string]any{
		"TokenAuth":  cce.TokenAuth{Token: secret},
		"*TokenAuth": &cce.TokenAuth{Token: secret},
		"Signer":     cce.Signer{AK: "AK", SK: secret, SecurityToken: secret},
		"*Signer":    &cce.Signer{AK: "AK", SK: secret, SecurityToken: secret},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) || strings.Contains(out, "73336372337") {
					t.Errorf("%s printed the secret: %s", verb, out)
				}
			}
			if s, ok := v.(interface{ String() string }); ok && strings.Contains(s.String(), secret) {
				t.Errorf("String() printed the secret")
			}
			if out, err := json.Marshal(v); err != nil || strings.Contains(string(out), secret) {
				t.Errorf("json = %s, %v", out, err)
			}
		})
	}
}
