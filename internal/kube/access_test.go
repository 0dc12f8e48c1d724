package kube_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/kube"
)

func TestNoneGivesErrNoAccess(t *testing.T) {
	for _, mode := range []string{"", "none"} {
		a, err := kube.New(kube.Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if a.Mode() != "none" || a.Enabled() {
			t.Errorf("mode %q: Mode %q, Enabled %v", mode, a.Mode(), a.Enabled())
		}
		_, err = a.Client(t.Context(), "", "p", "c")
		if !errors.Is(err, kube.ErrNoAccess) || !strings.Contains(err.Error(), "KUBE_ACCESS") {
			t.Errorf("mode %q: Client error %v, want ErrNoAccess naming KUBE_ACCESS", mode, err)
		}
	}
}

func TestBadOptions(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		o    kube.Options
		want string
	}{
		{"UnknownMode", kube.Options{Mode: "kubeconfig"}, "KUBE_ACCESS"},
		{"DirWithoutDir", kube.Options{Mode: "dir"}, "KUBECONFIG_DIR"},
		{"DirMissing", kube.Options{Mode: "dir", Dir: missing}, "KUBECONFIG_DIR"},
		{"DirIsAFile", kube.Options{Mode: "dir", Dir: "access_test.go"}, "KUBECONFIG_DIR"},
		{"BadEndpoint", kube.Options{Mode: "cce", Endpoint: "public", CCE: stubIssuer{}}, "KUBE_ENDPOINT"},
		{"CCEWithoutClient", kube.Options{Mode: "cce"}, "CCE client"},
		{"NegativeQPS", kube.Options{Mode: "none", QPS: -1}, "KUBE_QPS"},
		{"NegativeBurst", kube.Options{Mode: "none", Burst: -1}, "KUBE_BURST"},
		{"ShortTTL", kube.Options{Mode: "cce", CCE: stubIssuer{}, CertTTL: time.Minute}, "KUBE_CERT_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := kube.New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// stubIssuer issues nothing.
type stubIssuer struct{}

func (stubIssuer) ClusterCert(_ context.Context, _, _ string, _ time.Duration) ([]byte, error) {
	return nil, errors.New("stub")
}
