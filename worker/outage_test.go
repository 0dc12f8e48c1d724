package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

// A request whose record was stored but whose task was not (Redis went away
// between the two writes, and the enqueuer could not undo the record) is
// found by the worker's sweep, gets its task again, and is carried out.
func TestQueuedRequestWithoutTaskGetsItsTask(t *testing.T) {
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) { c.OrphanAfter = 300 * time.Millisecond })
	h.dumpLogsOnFailure()
	req, err := enqueuer.Request{ID: "orphan", ProjectID: project, ClusterID: "c1", Nodes: uids(9, 2), SSHKey: "k"}.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	h.fake.AddNodes(project, "c1", req.Nodes...)
	if _, _, err := h.store.Create(t.Context(), req); err != nil {
		t.Fatal(err) // the record alone, as a cut-off enqueue leaves it
	}
	h.start()
	st := h.waitFinal("orphan", finalWithin)
	if st.State != removal.StateSucceeded {
		t.Fatalf("state %s, error %q; want succeeded", st.State, st.Error)
	}
	if n := strings.Count(h.logs.String(), "had no task"); n != 1 {
		t.Errorf("%d log lines say the request had no task, want 1", n)
	}
	if got := len(h.fake.Removals()); got != 1 {
		t.Errorf("%d removals, want 1", got)
	}
}

// While Redis is down the worker keeps running and says so in a few lines,
// not a line per failed loop; when Redis is back it says so and carries on.
// Redis keeps its data (an append-only file): one that comes back empty is
// a loss (TestRedisRestartedEmptyIsALoss).
func TestWorkerRidesOutRedisOutage(t *testing.T) {
	h := newHarnessWith(t, redistest.Options{AppendOnly: true})
	if h.redis.Kind != "redis-server" {
		t.Skip("needs a private redis-server to stop")
	}
	h.dumpLogsOnFailure()
	h.start()
	if st := h.waitFinal(h.enqueue(enqueuer.Request{ID: "before", ClusterID: "c1", Nodes: uids(10, 1)}).RequestID, finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("before the outage: %s %q", st.State, st.Error)
	}

	h.redis.Stop(t)
	outageStart := len(h.logs.String())
	testkit.WaitFor(t, 10*time.Second, "the worker to say Redis does not answer", func() bool {
		return strings.Contains(h.logs.String()[outageStart:], "Redis does not answer")
	})
	// Stay down a while: asynq's forwarder alone tries every 100ms here.
	time.Sleep(3 * time.Second) // the outage itself, not a wait for a condition
	outage := h.logs.String()[outageStart:]
	h.redis.Restart(t)
	testkit.WaitFor(t, 10*time.Second, "the worker to say Redis answers again", func() bool {
		return strings.Contains(h.logs.String()[outageStart:], "Redis answers again")
	})

	kinds := map[string]int{}
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(outage), "\n") {
		var ev struct{ Level, Component, Message string }
		if json.Unmarshal([]byte(line), &ev) != nil || (ev.Level != "warn" && ev.Level != "error") {
			continue
		}
		lines++
		if ev.Component == "asynq" {
			kind, _, _ := strings.Cut(ev.Message, ": ")
			kinds[kind]++
		}
	}
	for kind, n := range kinds {
		if n > 1 {
			t.Errorf("asynq logged %q %d times in a 3s outage; want once per 30s", kind, n)
		}
	}
	if lines > 20 {
		t.Errorf("%d warnings and errors in a 3s outage; want a few:\n%s", lines, outage)
	}

	st := h.waitFinal(h.enqueue(enqueuer.Request{ID: "after", ClusterID: "c1", Nodes: uids(11, 1)}).RequestID, finalWithin)
	if st.State != removal.StateSucceeded {
		t.Fatalf("after the outage: %s %q", st.State, st.Error)
	}
}

// TestCorruptRecordDoesNotStopTheSweep: an open request whose record is not
// JSON is skipped by the sweep for requests without a task (logged once,
// with its key, and counted); the sweep goes on to the next one.
func TestCorruptRecordDoesNotStopTheSweep(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) {
		c.OrphanAfter = 300 * time.Millisecond
		c.Metrics = metrics.New(reg, metrics.Options{})
	})
	h.dumpLogsOnFailure()
	for i, id := range []string{"broken", "orphan"} {
		req, err := enqueuer.Request{ID: id, ProjectID: project, ClusterID: "c1", Nodes: uids(12, 2)[i : i+1], SSHKey: "k"}.Prepare()
		if err != nil {
			t.Fatal(err)
		}
		h.fake.AddNodes(project, "c1", req.Nodes...)
		if _, _, err := h.store.Create(t.Context(), req); err != nil {
			t.Fatal(err) // the records alone, as cut-off enqueues leave them
		}
	}
	if err := h.rdb.Set(t.Context(), "{noderemover}:request:broken", "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.start()
	if st := h.waitFinal("orphan", finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("the orphan behind a corrupt record: %s %q", st.State, st.Error)
	}
	testkit.WaitFor(t, finalWithin, "the sweep to skip the corrupt record twice", func() bool {
		return counterValue(t, reg, "noderemover_records_corrupt_total", "", "") >= 2
	})
	if n := strings.Count(h.logs.String(), `"key":"{noderemover}:request:broken"`); n != 1 {
		t.Errorf("the corrupt key was logged %d times, want once", n)
	}
}
