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

// TestIAMTokensRenewedMidRun: a worker whose tokens come from IAM and last
// 2 s removes nodes enqueued over several token lifetimes, with no request
// failed and no 401 reaching a record.
func TestIAMTokensRenewedMidRun(t *testing.T) {
	var iam *ccetest.IAM
	h := newHarness(t, func(_ *worker.Config, o *ccetest.Options) {
		iam = ccetest.NewIAM(ccetest.IAMOptions{Domain: "acme", Users: map[string]string{"robot": "Pa55-word"}, TokenTTL: 2 * time.Second})
		o.IAM, o.Token = iam, "" // only IAM's tokens are accepted
	})
	t.Cleanup(iam.Close)
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Timeout: h.cfg.CCETimeout, Auth: &cce.IAMPassword{
		Endpoint: iam.URL, Domain: "acme", User: "robot", Password: func() (string, error) { return "Pa55-word", nil }}})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(h.rdb, api, h.cfg)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)

	// One request after the other (each waits for the one before to end):
	// they span several token lifetimes.
	start := time.Now()
	for i := range 8 {
		id := fmt.Sprintf("iam-%d", i)
		h.enqueue(enqueuer.Request{ID: id, ClusterID: fmt.Sprintf("iam-c%d", i%3), Nodes: uids(80+i, 1)})
		if st := h.waitFinal(id, 30*time.Second); st.State != removal.StateSucceeded {
			t.Fatalf("request %s: %s %q", id, st.State, st.Error)
		}
	}
	if n := iam.Issued(); n < 3 {
		t.Errorf("%d tokens issued over %s of 2 s tokens, want them renewed", n, time.Since(start).Round(time.Second))
	}
}

// tokenFileWorker starts a worker whose token comes from a file, against
// the harness's fake CCE (which accepts only the harness's token).
func tokenFileWorker(t *testing.T, h *harness, path string) *worker.Server {
	t.Helper()
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Timeout: h.cfg.CCETimeout, Auth: &cce.TokenFile{Path: path}})
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

// TestRefusedCredentialsWaitThenARotatedFileWorks: CCE refuses the token
// the worker holds; the request waits without failing and without using an
// attempt, the worker is not ready; the token file is rotated, the worker
// reads it without a restart, and the request succeeds.
func TestRefusedCredentialsWaitThenARotatedFileWorks(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("an-expired-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := tokenFileWorker(t, h, path)
	h.enqueue(enqueuer.Request{ID: "creds-1", ClusterID: "creds", Nodes: uids(90, 1)})
	testkit.WaitFor(t, 20*time.Second, "the worker not ready for its credentials", func() bool {
		err := w.Ready(t.Context())
		return err != nil && strings.Contains(err.Error(), "refuses this worker's credentials")
	})
	st, err := h.enq.Status(t.Context(), "creds-1")
	if err != nil || st.State.Final() || st.Attempts != 0 {
		t.Fatalf("while credentials are refused: %+v %v; want it open, no attempt used", st, err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := h.waitFinal("creds-1", 30*time.Second); st.State != removal.StateSucceeded || st.Attempts != 1 {
		t.Errorf("after the rotation: %s, %d attempts, %q", st.State, st.Attempts, st.Error)
	}
	testkit.WaitFor(t, 10*time.Second, "the worker ready again", func() bool { return w.Ready(t.Context()) == nil })
	if logs := h.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, "an-expired-token") {
		t.Error("a token reached the logs")
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
	tokenFileWorker(t, h, path)
	h.enqueue(enqueuer.Request{ID: "creds-2", ClusterID: "creds", Nodes: uids(91, 1)})
	st := h.waitFinal("creds-2", 30*time.Second)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "worker's own credentials") || !strings.Contains(st.Error, "CREDENTIALS_GRACE") {
		t.Errorf("status %s %q", st.State, st.Error)
	}
	if calls := h.fake.Calls(ccetest.OpRemoveNodes); calls != 0 {
		t.Errorf("%d RemoveNodes calls reached CCE; the preflight's reads were refused first", calls)
	}
}
