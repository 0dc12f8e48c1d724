package worker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

// TestCredentialsRenewedMidRun: a worker whose credentials last 20 s (IAM
// tokens obtained with a password, the ECS metadata service's agency keys,
// keys for the Pod's identity token whose file the kubelet rotates)
// removes 50 nodes enqueued over 2 minutes, with no request failed and no
// 401 reaching a record, renewing its credentials as it goes.
func TestCredentialsRenewedMidRun(t *testing.T) {
	const ttl = 20 * time.Second
	sources := map[string]func(t *testing.T, iam *ccetest.IAM) cce.Authenticator{
		"iam-password": func(_ *testing.T, iam *ccetest.IAM) cce.Authenticator {
			return &cce.IAMPassword{Endpoint: iam.URL, Domain: "acme", User: "robot", Password: func() (string, error) { return "Pa55-word", nil }}
		},
		"ecs-metadata": func(t *testing.T, iam *ccetest.IAM) cce.Authenticator {
			md := ccetest.NewMetadata(ccetest.MetadataOptions{IAM: iam, KeyTTL: ttl})
			t.Cleanup(md.Close)
			return &cce.TemporaryKeys{What: "ECS metadata", Source: cce.ECSMetadata{Endpoint: md.URL}}
		},
		"workload-identity": func(t *testing.T, iam *ccetest.IAM) cce.Authenticator {
			path := filepath.Join(t.TempDir(), "token")
			rotate := func() {
				if err := os.WriteFile(path+".new", []byte(iam.IssueIDToken(25*time.Second)), 0o600); err != nil {
					t.Error(err)
				}
				if err := os.Rename(path+".new", path); err != nil {
					t.Error(err)
				}
			}
			rotate()
			kubelet := time.NewTicker(10 * time.Second) // rotates well before the token's 25 s
			done := make(chan struct{})
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				for {
					select {
					case <-kubelet.C:
						rotate()
					case <-done:
						return
					}
				}
			}()
			t.Cleanup(func() { kubelet.Stop(); close(done); <-stopped })
			return &cce.TemporaryKeys{What: "workload identity", Source: &cce.WorkloadIdentity{IAMEndpoint: iam.URL, IdPID: "idp-cluster", TokenFile: path}}
		},
	}
	for name, source := range sources {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			iam := ccetest.NewIAM(ccetest.IAMOptions{Domain: "acme", Users: map[string]string{"robot": "Pa55-word"},
				TokenTTL: ttl, KeyTTL: ttl, IdPID: "idp-cluster"})
			t.Cleanup(iam.Close)
			h := newHarness(t, func(c *worker.Config, o *ccetest.Options) {
				o.IAM, o.Token = iam, "" // only what IAM issued is accepted
				o.JobDuration = 3 * time.Second
			})
			api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Timeout: h.cfg.CCETimeout, Auth: source(t, iam)})
			if err != nil {
				t.Fatal(err)
			}
			w := worker.New(h.rdb, api, h.cfg)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Shutdown)

			// 25 requests of 2 nodes, one every 4.8 s: 50 nodes over 2 minutes.
			const requests = 25
			pace := time.NewTicker(2 * time.Minute / requests)
			defer pace.Stop()
			for i := range requests {
				h.enqueue(enqueuer.Request{ID: fmt.Sprintf("%s-%d", name, i), ClusterID: fmt.Sprintf("c%d", i%4), Nodes: uids(0x100+i, 2)})
				if i < requests-1 {
					<-pace.C
				}
			}
			removed := 0
			for i := range requests {
				id := fmt.Sprintf("%s-%d", name, i)
				st := h.waitFinal(id, time.Minute)
				if st.State != removal.StateSucceeded || st.Error != "" {
					t.Errorf("request %s: %s %q", id, st.State, st.Error)
				}
				for _, n := range st.Nodes {
					if n.State == removal.NodeRemoved {
						removed++
					}
					if strings.Contains(n.Reason, "401") || strings.Contains(n.Reason, "authoriz") {
						t.Errorf("request %s node %s: %q", id, n.UID, n.Reason)
					}
				}
			}
			if removed != 2*requests {
				t.Errorf("%d nodes removed, want %d", removed, 2*requests)
			}
			if issued := iam.Issued() + iam.KeysIssued(); issued < 6 {
				t.Errorf("%d tokens and keys issued over 2 minutes of %v credentials: not renewed", issued, ttl)
			}
		})
	}
}

// credentialsWorker starts a worker that authenticates with auth, against
// the harness's fake CCE.
func credentialsWorker(t *testing.T, h *harness, auth cce.Authenticator) *worker.Server {
	t.Helper()
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Timeout: h.cfg.CCETimeout, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(h.rdb, api, h.cfg)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	return w
}

// TestRefusedCredentialsWaitThenARotatedFileWorks: CCE refuses the
// credentials the worker holds (a token file, AK/SK files); the request
// waits without failing and without using an attempt, the worker is not
// ready; the files are rotated, the worker reads them without a restart,
// and the request succeeds.
func TestRefusedCredentialsWaitThenARotatedFileWorks(t *testing.T) {
	write := func(t *testing.T, path, v string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// auth writes the refused credentials and returns the source and
		// the rotation to good ones.
		auth func(t *testing.T, dir string) (cce.Authenticator, func())
	}{
		{"token-file", func(t *testing.T, dir string) (cce.Authenticator, func()) {
			path := filepath.Join(dir, "token")
			write(t, path, "an-expired-token")
			return &cce.TokenFile{Path: path}, func() { write(t, path, token) }
		}},
		{"key-files", func(t *testing.T, dir string) (cce.Authenticator, func()) {
			ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
			write(t, ak, "AKREVOKED")
			write(t, sk, "sk-revoked-never-shown")
			return &cce.KeyFiles{AKFile: ak, SKFile: sk}, func() { write(t, ak, "AKCURRENT"); write(t, sk, "sk-current-never-shown") }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(_ *worker.Config, o *ccetest.Options) { o.AK, o.SK = "AKCURRENT", "sk-current-never-shown" })
			auth, rotate := tc.auth(t, t.TempDir())
			w := credentialsWorker(t, h, auth)
			h.enqueue(enqueuer.Request{ID: "creds-1", ClusterID: "creds", Nodes: uids(90, 1)})
			testkit.WaitFor(t, 20*time.Second, "the worker not ready for its credentials", func() bool {
				err := w.Ready(t.Context())
				return err != nil && strings.Contains(err.Error(), "refuses this worker's credentials")
			})
			st, err := h.enq.Status(t.Context(), "creds-1")
			if err != nil || st.State.Final() || st.Attempts != 0 {
				t.Fatalf("while credentials are refused: %+v %v; want it open, no attempt used", st, err)
			}
			rotate()
			if st := h.waitFinal("creds-1", 30*time.Second); st.State != removal.StateSucceeded || st.Attempts != 1 {
				t.Errorf("after the rotation: %s, %d attempts, %q", st.State, st.Attempts, st.Error)
			}
			testkit.WaitFor(t, 10*time.Second, "the worker ready again", func() bool { return w.Ready(t.Context()) == nil })
			for _, secret := range []string{token, "an-expired-token", "sk-revoked-never-shown", "sk-current-never-shown"} {
				if strings.Contains(h.logs.String(), secret) {
					t.Errorf("a secret reached the logs")
				}
			}
		})
	}
}

// TestRefusedCredentialsFailAfterTheGrace: credentials that never work
// fail the request once the grace is over, saying it was the worker's.
func TestRefusedCredentialsFailAfterTheGrace(t *testing.T) {
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) { c.CredentialsGrace = time.Second })
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("never-valid"), 0o600); err != nil {
		t.Fatal(err)
	}
	credentialsWorker(t, h, &cce.TokenFile{Path: path})
	h.enqueue(enqueuer.Request{ID: "creds-2", ClusterID: "creds", Nodes: uids(91, 1)})
	st := h.waitFinal("creds-2", 30*time.Second)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "worker's own credentials") || !strings.Contains(st.Error, "CREDENTIALS_GRACE") {
		t.Errorf("status %s %q", st.State, st.Error)
	}
	if calls := h.fake.Calls(ccetest.OpRemoveNodes); calls != 0 {
		t.Errorf("%d RemoveNodes calls reached CCE; the preflight's reads were refused first", calls)
	}
}
