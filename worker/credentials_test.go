package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
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
	if took := time.Since(start); took < 4*time.Second {
		t.Logf("the run took %s: fewer token lifetimes than meant", took)
	}
	if n := iam.Issued(); n < 3 {
		t.Errorf("%d tokens issued over %s of 2 s tokens, want them renewed", n, time.Since(start).Round(time.Second))
	}
}
