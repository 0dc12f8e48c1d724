package cce_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

// fakeKey stands for the private key a kubeconfig carries.
const fakeKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsecretsecretsecret\n-----END EC PRIVATE KEY-----\n"

// TestClusterCertBody: a whole number of days is asked for as duration,
// anything else as expire_at, and the answer comes back as it was sent.
func TestClusterCertBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        time.Duration
		duration int
		expire   time.Duration // expected expire_at, from now; 0: none
	}{
		{"Hour", time.Hour, 0, time.Hour},
		{"FifteenMinutes", cce.MinCertDuration, 0, cce.MinCertDuration},
		{"ThirtySixHours", 36 * time.Hour, 0, 36 * time.Hour},
		{"TwoDays", 48 * time.Hour, 2, 0},
		{"Longest", cce.MaxCertDays * 24 * time.Hour, cce.MaxCertDays, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := newRecorder(t, 200, `{"kind":"Config","users":[]}`)
			before := time.Now()
			got, err := newClient(t, srv.URL, cce.TokenAuth{Token: "tok"}).ClusterCert(t.Context(), "p", "c", tc.d)
			if err != nil || string(got) != `{"kind":"Config","users":[]}` {
				t.Fatalf("ClusterCert = %q, %v", got, err)
			}
			req := seen()[0]
			if req.method != http.MethodPost || req.escapedPath != "/api/v3/projects/p/clusters/c/clustercert" {
				t.Errorf("sent %s %s", req.method, req.escapedPath)
			}
			var body map[string]any
			if err := json.Unmarshal(req.body, &body); err != nil || len(body) != 1 {
				t.Fatalf("body %s: want one field (%v)", req.body, err)
			}
			if tc.duration != 0 {
				if body["duration"] != float64(tc.duration) {
					t.Errorf("body %s, want duration %d", req.body, tc.duration)
				}
				return
			}
			at, err := time.Parse(time.RFC3339, body["expire_at"].(string))
			if err != nil {
				t.Fatalf("body %s: %v", req.body, err)
			}
			if lo, hi := before.Add(tc.expire), time.Now().Add(tc.expire+time.Second); at.Before(lo.Truncate(time.Second)) || at.After(hi) {
				t.Errorf("expire_at %v, want within [%v, %v]", at, lo, hi)
			}
		})
	}
}

func TestClusterCertRejectsValidity(t *testing.T) {
	srv, seen := newRecorder(t, 200, `{}`)
	c := newClient(t, srv.URL, cce.TokenAuth{Token: "tok"})
	for _, d := range []time.Duration{0, -time.Hour, 14 * time.Minute, (cce.MaxCertDays + 1) * 24 * time.Hour} {
		if _, err := c.ClusterCert(t.Context(), "p", "c", d); !errors.Is(err, cce.ErrInvalidInput) {
			t.Errorf("validity %v: err %v, want ErrInvalidInput", d, err)
		}
	}
	if _, err := c.ClusterCert(t.Context(), "p", "", time.Hour); !errors.Is(err, cce.ErrInvalidInput) {
		t.Errorf("no cluster id: %v", err)
	}
	if n := len(seen()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

// TestClusterCertNeverQuotesTheKey: neither an error answer echoing a
// kubeconfig nor a 2xx body that is not JSON shows up in the error.
func TestClusterCertNeverQuotesTheKey(t *testing.T) {
	kubeconfig, _ := json.Marshal(map[string]any{"users": []any{map[string]any{"name": "u",
		"user": map[string]string{"client-key-data": "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t", "raw": fakeKey}}}})
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"ErrorEchoesKubeconfig", 500, string(kubeconfig)},
		{"ErrorMessageHoldsKey", 400, `{"errorCode":"CCE.01400001","errorMessage":"bad: ` + strings.ReplaceAll(fakeKey, "\n", `\n`) + `"}`},
		{"ErrorNotJSON", 502, "<html>" + fakeKey + "</html>"},
		{"OKNotJSON", 200, `{"users":` + fakeKey},
		{"OKTruncated", 200, string(kubeconfig[:len(kubeconfig)-3])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newRecorder(t, tc.status, tc.body)
			_, err := newClient(t, srv.URL, cce.TokenAuth{Token: "tok"}).ClusterCert(t.Context(), "p", "c", time.Hour)
			if err == nil {
				t.Fatal("no error")
			}
			for _, secret := range []string{"PRIVATE KEY", "MHcCAQEEIB", "LS0tLS1CRUdJTi", "secretsecret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes %q", err, secret)
				}
			}
			if tc.status >= 300 && cce.Classify(err) == 0 {
				t.Errorf("error %v has no class", err)
			}
		})
	}
}

func TestClusterCertThroughFake(t *testing.T) {
	srv := ccetest.NewServer(ccetest.Options{Token: "tok"})
	defer srv.Close()
	var ops []string
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: cce.TokenAuth{Token: "tok"},
		Observe: func(op string, status int, _ time.Duration) { ops = append(ops, op) }})
	if err != nil {
		t.Fatal(err)
	}
	var asked time.Time
	srv.SetClusterCert("p", "c", func(notAfter time.Time) ([]byte, error) {
		asked = notAfter
		return []byte(`{"kind":"Config"}`), nil
	})
	got, err := c.ClusterCert(t.Context(), "p", "c", 2*time.Hour)
	if err != nil || string(got) != `{"kind":"Config"}` {
		t.Fatalf("ClusterCert = %q, %v", got, err)
	}
	if d := time.Until(asked); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Second {
		t.Errorf("certificate asked to end in %v, want 2h", d)
	}
	if _, err := c.ClusterCert(t.Context(), "p", "other", time.Hour); !cce.IsNotFound(err) {
		t.Errorf("unknown cluster: %v, want not found", err)
	}
	if len(ops) != 2 || ops[0] != "ClusterCert" {
		t.Errorf("observed %v", ops)
	}
}
