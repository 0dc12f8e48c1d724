package kube_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/internal/testkit"
)

const (
	project = "proj-1"
	cluster = "clus-1"
	token   = "good-token"
)

// cceSetup is a fake CCE whose cluster issues kubeconfigs for an internal
// and an external API server of the test CA.
type cceSetup struct {
	pki                *pki
	fake               *ccetest.Server
	client             *cce.Client
	internal, external *apiServer
}

func newCCESetup(t *testing.T) *cceSetup {
	t.Helper()
	s := &cceSetup{pki: newPKI(t)}
	s.internal, s.external = s.pki.apiServer(t, "internal-node"), s.pki.apiServer(t, "external-node")
	s.fake = ccetest.NewServer(ccetest.Options{Token: token})
	t.Cleanup(s.fake.Close)
	s.fake.SetClusterCert(project, cluster, func(notAfter time.Time) ([]byte, error) {
		cert, key := s.pki.client(t, notAfter)
		return s.pki.kubeconfig(s.internal.URL, s.external.URL, "external", cert, key), nil
	})
	var err error
	s.client, err = cce.New(cce.Config{Endpoint: s.fake.URL, Auth: cce.TokenAuth{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *cceSetup) access(t *testing.T, o kube.Options) *kube.Access {
	t.Helper()
	o.Mode, o.CCE = "cce", s.client
	a, err := kube.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCCEEndpoints(t *testing.T) {
	s := newCCESetup(t)
	for endpoint, want := range map[string]string{"": "internal-node", "internal": "internal-node", "external": "external-node"} {
		t.Run("Endpoint"+endpoint, func(t *testing.T) {
			c, err := s.access(t, kube.Options{Endpoint: endpoint}).Client(t.Context(), "", project, cluster)
			if err != nil {
				t.Fatal(err)
			}
			if got := nodeName(t, c); got != want {
				t.Errorf("node %q, want %q", got, want)
			}
		})
	}
}

// TestCCERenewsBeforeTheEnd: a kubeconfig is kept while more than a third
// of its certificate's life is left, then exactly one new one is asked for.
func TestCCERenewsBeforeTheEnd(t *testing.T) {
	s := newCCESetup(t)
	clock := testkit.NewOffsetClock(0)
	a := s.access(t, kube.Options{Now: clock.Now})
	first, err := a.Client(t.Context(), "", project, cluster)
	if err != nil {
		t.Fatal(err)
	}
	nodeName(t, first)
	clock.Advance(30 * time.Minute)
	if again, err := a.Client(t.Context(), "", project, cluster); err != nil || again != first {
		t.Fatalf("at 30m: Client = %p, %v; want the same client", again, err)
	}
	if n := s.fake.Calls(ccetest.OpClusterCert); n != 1 {
		t.Fatalf("at 30m: %d ClusterCert calls, want 1", n)
	}
	clock.Advance(11 * time.Minute) // 41 of 60 minutes: less than a third left
	var renewed kubernetes.Interface
	for range 3 {
		if renewed, err = a.Client(t.Context(), "", project, cluster); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.fake.Calls(ccetest.OpClusterCert); n != 2 {
		t.Errorf("at 41m: %d ClusterCert calls, want 2", n)
	}
	if renewed == first {
		t.Error("the client was kept past its renewal")
	}
	if got := nodeName(t, renewed); got != "internal-node" {
		t.Errorf("node %q", got)
	}
}

func TestCCEConcurrentCallersShareOneIssuance(t *testing.T) {
	s := newCCESetup(t)
	s.fake.SetLatency(200 * time.Millisecond) // callers arrive while it runs
	a := s.access(t, kube.Options{})
	var wg sync.WaitGroup
	clients := make([]kubernetes.Interface, 16)
	for i := range clients {
		wg.Go(func() {
			c, err := a.Client(t.Context(), "", project, cluster)
			if err != nil {
				t.Error(err)
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if n := s.fake.Calls(ccetest.OpClusterCert); n != 1 {
		t.Errorf("%d ClusterCert calls, want 1", n)
	}
	for i, c := range clients {
		if c != clients[0] {
			t.Errorf("caller %d got another client", i)
		}
	}
}

func TestCCEErrors(t *testing.T) {
	s := newCCESetup(t)
	s.fake.SetClusterCert(project, "internal-only", func(notAfter time.Time) ([]byte, error) {
		cert, key := s.pki.client(t, notAfter)
		return s.pki.kubeconfig(s.internal.URL, "", "internal", cert, key), nil
	})
	s.fake.SetClusterCert(project, "garbage", func(notAfter time.Time) ([]byte, error) {
		_, key := s.pki.client(t, notAfter)
		return append([]byte(`{"clusters": 7, "key": "`), append(key, '"', '}')...), nil
	})
	s.fake.SetClusterCert(project, "expired", func(time.Time) ([]byte, error) {
		cert, key := s.pki.client(t, time.Now().Add(-time.Minute))
		return s.pki.kubeconfig(s.internal.URL, s.external.URL, "external", cert, key), nil
	})
	s.fake.AddNodes(project, "no-issuer", "n1")
	for _, tc := range []struct {
		name, endpoint, cluster string
		wants                   []string
	}{
		{"UnknownCluster", "", "unknown", []string{"cluster unknown", "CCE.01404001"}},
		{"NoIssuer", "", "no-issuer", []string{"cluster no-issuer", "CCE.01403001"}},
		{"MissingEntry", "external", "internal-only", []string{"internal-only", `"externalCluster"`, `"internalCluster"`}},
		{"NotAKubeconfig", "", "garbage", []string{"garbage"}},
		{"Expired", "", "expired", []string{"expired", "ended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.access(t, kube.Options{Endpoint: tc.endpoint}).Client(t.Context(), "", project, tc.cluster)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			s.pki.noSecret(t, err)
		})
	}
}
