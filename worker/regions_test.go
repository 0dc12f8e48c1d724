package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

// TestTwoRegionsOneFleet: two regions served by one fleet, each with its
// own limits. One worker on one Redis serves cn-north-4 (its default
// region) and eu-west-101, each a fake CCE of its own. The write rate is
// low (a slot every 5.6 s per region and project): cn-north-4's second
// request waits for its slot, and eu-west-101's request is sent meanwhile,
// as it would not be under one shared limit. Every call goes to its
// region's fake, every status names its region, the metrics carry both.
func TestTwoRegionsOneFleet(t *testing.T) {
	const (
		projectCN = "0123456789abcdef0123456789abcdcn"
		projectEU = "0123456789abcdef0123456789abcdeu"
	)
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	logs := &testkit.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	fakes := map[string]*ccetest.Server{}
	clients := map[string]*cce.Client{}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Options{Regions: []string{"cn-north-4", "eu-west-101"}})
	for _, region := range []string{"cn-north-4", "eu-west-101"} {
		fakes[region] = ccetest.NewServer(ccetest.Options{JobDuration: 300 * time.Millisecond, Token: token})
		t.Cleanup(fakes[region].Close)
		c, err := cce.New(cce.Config{Endpoint: fakes[region].URL, Auth: cce.TokenAuth{Token: token}, Timeout: 2 * time.Second,
			Observe: m.CCECalls(region)})
		if err != nil {
			t.Fatal(err)
		}
		clients[region] = c
	}
	w := worker.New(rdb, clients["cn-north-4"], worker.Config{
		Concurrency:     8,
		RetryBackoffMin: 100 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond,
		PollIntervalMin: 200 * time.Millisecond, PollIntervalMax: 500 * time.Millisecond,
		PollFirstDelay: 200 * time.Millisecond, PollTimeout: time.Minute,
		CCETimeout: 2 * time.Second, ShutdownTimeout: 5 * time.Second,
		WriteRate: 0.2, // one RemoveNode call every 5.6 s per region and project
		Region:    "cn-north-4",
		CCEFor: func(region string) (worker.CCE, bool) {
			c, ok := clients[region]
			return c, ok && region != "cn-north-4"
		},
		Metrics: m,
		Logger:  zerolog.New(logs).With().Timestamp().Logger(),
	})
	enq := enqueuer.New(rdb, enqueuer.Options{DefaultRegion: "cn-north-4", Regions: []string{"cn-north-4", "eu-west-101"}})
	t.Cleanup(func() { _ = enq.Close() })

	cnNodes, euNodes := uids(70, 2), uids(71, 1)
	fakes["cn-north-4"].AddNodes(projectCN, "cn-a", cnNodes[0])
	fakes["cn-north-4"].AddNodes(projectCN, "cn-b", cnNodes[1])
	fakes["eu-west-101"].AddNodes(projectEU, "eu-a", euNodes[0])
	reqs := []enqueuer.Request{
		{ID: "cn-1", ProjectID: projectCN, ClusterID: "cn-a", Nodes: cnNodes[:1], SSHKey: "k"},
		{ID: "cn-2", ProjectID: projectCN, ClusterID: "cn-b", Nodes: cnNodes[1:], SSHKey: "k"},
	}
	for _, r := range reqs {
		if _, err := enq.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	// cn-north-4's first call uses its region's slot; its second waits.
	testkit.WaitFor(t, 10*time.Second, "cn-north-4's first RemoveNode call", func() bool {
		return len(fakes["cn-north-4"].Removals()) == 1
	})
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "eu-1", ProjectID: projectEU, ClusterID: "eu-a", Region: "eu-west-101",
		Nodes: euNodes, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "eu-west-101's RemoveNode call", func() bool {
		return len(fakes["eu-west-101"].Removals()) == 1
	})
	if n := len(fakes["cn-north-4"].Removals()); n != 1 {
		t.Fatalf("cn-north-4 had %d RemoveNode calls when eu-west-101's went: its second should still wait for its slot", n)
	}
	for _, key := range []string{"{noderemover}:cce:cn-north-4:" + projectCN + ":write:next", "{noderemover}:cce:eu-west-101:" + projectEU + ":write:next"} {
		if n, err := rdb.Exists(t.Context(), key).Result(); err != nil || n != 1 {
			t.Errorf("limiter key %s: exists %d, %v", key, n, err)
		}
	}

	for id, region := range map[string]string{"cn-1": "cn-north-4", "cn-2": "cn-north-4", "eu-1": "eu-west-101"} {
		var st removal.Status
		testkit.WaitFor(t, finalWithin, "request "+id+" final", func() bool {
			var err error
			st, err = enq.Status(t.Context(), id)
			return err == nil && st.State.Final()
		})
		if st.State != removal.StateSucceeded || st.Region != region {
			t.Errorf("%s: %s in region %q (%s), want succeeded in %s", id, st.State, st.Region, st.Error, region)
		}
	}
	for region, project := range map[string]string{"cn-north-4": projectCN, "eu-west-101": projectEU} {
		for _, r := range fakes[region].Removals() {
			if r.ProjectID != project {
				t.Errorf("%s's CCE got a removal of project %s", region, r.ProjectID)
			}
		}
		if fakes[region].Calls(ccetest.OpShowJob) == 0 {
			t.Errorf("%s's CCE was never polled", region)
		}
	}
	if n := len(fakes["cn-north-4"].Removals()); n != 2 {
		t.Errorf("cn-north-4: %d removals, want 2", n)
	}
	text := scrape(t, reg)
	for _, want := range []string{
		`noderemover_cce_requests_total{code="200",operation="RemoveNodes",region="cn-north-4"} 2`,
		`noderemover_cce_requests_total{code="200",operation="RemoveNodes",region="eu-west-101"} 1`,
		`noderemover_requests_finished_total{region="cn-north-4",state="succeeded"} 2`,
		`noderemover_requests_finished_total{region="eu-west-101",state="succeeded"} 1`,
		`noderemover_nodes_finished_total{outcome="removed",region="eu-west-101"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grep(text, "region="))
		}
	}
}

// TestUnservedRegionFails: a request of a region no worker serves (a
// producer that did not check) fails with a reason naming the region; the
// worker does not stall or panic.
func TestUnservedRegionFails(t *testing.T) {
	h := newHarness(t)
	h.dumpLogsOnFailure()
	h.enqueue(enqueuer.Request{ID: "far", ClusterID: "c1", Region: "ap-southeast-1", Nodes: uids(72, 1)})
	h.start()
	st := h.waitFinal("far", finalWithin)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "region ap-southeast-1 is not served") {
		t.Fatalf("%s %q; want failed naming the region", st.State, st.Error)
	}
	if n := h.fake.Calls(ccetest.OpRemoveNodes); n != 0 {
		t.Errorf("%d RemoveNode calls to the default region's CCE", n)
	}
}
