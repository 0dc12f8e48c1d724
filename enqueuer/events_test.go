package enqueuer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

// collector follows Events in the background and keeps what it saw.
type collector struct {
	mu   sync.Mutex
	evs  []enqueuer.Event
	done chan error
}

func follow(ctx context.Context, c *enqueuer.Client, f enqueuer.EventFilter) *collector {
	col := &collector{done: make(chan error, 1)}
	go func() {
		col.done <- c.Events(ctx, f, func(e enqueuer.Event) error {
			col.mu.Lock()
			defer col.mu.Unlock()
			col.evs = append(col.evs, e)
			return nil
		})
	}()
	return col
}

func (c *collector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.evs {
		out = append(out, e.Subject+" "+strings.TrimPrefix(e.Type, enqueuer.EventTypePrefix))
	}
	return out
}

func enqueueN(t *testing.T, c *enqueuer.Client, prefix string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := c.Enqueue(t.Context(), enqueuer.Request{ID: fmt.Sprintf("%s%d", prefix, i), ProjectID: "p",
			ClusterID: "c", Nodes: []string{uid(i)}, SSHKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEventsFollowAndFilter(t *testing.T) {
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	// Until every reader has subscribed, probes (new requests each time, in
	// the other cluster, named in one's filter) are enqueued; each reader
	// sees them once it follows. The same probe twice would be one request
	// and one event: a reader that joined after the first would wait for ever.
	var probes []string
	for i := range 1000 { // one per poll of 20 s at most
		probes = append(probes, fmt.Sprintf("probe%d", i))
	}
	all := follow(ctx, c, enqueuer.EventFilter{})
	one := follow(ctx, c, enqueuer.EventFilter{RequestIDs: append([]string{"r2"}, probes...)})
	other := follow(ctx, c, enqueuer.EventFilter{ClusterID: "elsewhere"})
	n := 0
	testkit.WaitFor(t, 20*time.Second, "the readers to subscribe", func() bool {
		if n < len(probes) {
			if _, err := c.Enqueue(t.Context(), enqueuer.Request{ID: probes[n], ProjectID: "p", ClusterID: "elsewhere",
				Nodes: []string{uid(1000 + n)}, SSHKey: "k"}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return len(all.lines()) > 0 && len(one.lines()) > 0 && len(other.lines()) > 0
	})
	enqueueN(t, c, "r", 1, 3)
	if _, err := c.Cancel(t.Context(), "r2"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "r2's events", func() bool {
		return slices.Equal(withoutProbes(one.lines()), []string{"r2 request.queued", "r2 request.cancelled"})
	})
	testkit.WaitFor(t, 10*time.Second, "every event", func() bool {
		l := all.lines()
		return len(l) > 0 && l[len(l)-1] == "r2 request.cancelled" && slices.Contains(l, "r3 request.queued")
	})
	if got := withoutProbes(other.lines()); len(got) != 0 {
		t.Errorf("another cluster's reader got %q", got)
	}
	cancel()
	for _, col := range []*collector{all, one, other} {
		if err := <-col.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Events ended with %v", err)
		}
	}
}

// withoutProbes leaves out the lines of TestEventsFollowAndFilter's probes.
func withoutProbes(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "probe") {
			out = append(out, l)
		}
	}
	return out
}

// TestEventsResumeWithoutGapOrRepeat: a reader that stops and resumes after
// the last event it saw gets every event once, while events keep coming.
func TestEventsResumeWithoutGapOrRepeat(t *testing.T) {
	c, _ := newClient(t)
	enqueueN(t, c, "before", 0, 5)
	var seen []string
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 10; i < 70; i++ {
			if _, err := c.Enqueue(context.Background(), enqueuer.Request{ID: fmt.Sprintf("w%d", i), ProjectID: "p",
				ClusterID: "c", Nodes: []string{uid(i)}, SSHKey: "k"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	after := "0-0" // from the start
	for len(seen) < 65 {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		err := c.Events(ctx, enqueuer.EventFilter{After: after}, func(e enqueuer.Event) error {
			seen = append(seen, e.Subject)
			after = e.ID
			if n++; n == 7 || len(seen) >= 65 {
				cancel() // a disconnect every 7 events, and at the end
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	<-writerDone
	want := []string{"before0", "before1", "before2", "before3", "before4"}
	for i := 10; i < 70; i++ {
		want = append(want, fmt.Sprintf("w%d", i))
	}
	if !slices.Equal(seen[:65], want) {
		t.Errorf("seen\n%q\nwant\n%q", seen, want)
	}
}

func TestWaitReturnsTheFinalStatus(t *testing.T) {
	c, _ := newClient(t)
	enqueueN(t, c, "r", 1, 1)
	got := make(chan enqueuer.Status, 1)
	errs := make(chan error, 1)
	go func() {
		st, err := c.Wait(t.Context(), "r1")
		got <- st
		errs <- err
	}()
	// Wait must not return while the request is open.
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(short, "r1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an open request: %v", err)
	}
	if _, err := c.Cancel(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	if st := <-got; st.State != removal.StateCancelled {
		t.Errorf("Wait returned %s", st.State)
	}
	if err := <-errs; err != nil {
		t.Error(err)
	}
	// A final request: at once.
	if st, err := c.Wait(t.Context(), "r1"); err != nil || st.State != removal.StateCancelled {
		t.Errorf("Wait on a final request: %v %v", st.State, err)
	}
	if _, err := c.Wait(t.Context(), "unknown"); !errors.Is(err, enqueuer.ErrNotFound) {
		t.Errorf("Wait on an unknown request: %v", err)
	}
	st, final, err := c.WaitFor(t.Context(), "r1", time.Second)
	if err != nil || !final || st.State != removal.StateCancelled {
		t.Errorf("WaitFor: %v %v %v", st.State, final, err)
	}
	enqueueN(t, c, "open", 5, 1)
	st, final, err = c.WaitFor(t.Context(), "open5", 100*time.Millisecond)
	if err != nil || final || st.State != removal.StateQueued {
		t.Errorf("WaitFor an open request: %v %v %v", st.State, final, err)
	}
}

func TestCallbackHostsAreChecked(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	hosts, err := enqueuer.ParseAllowedHosts("hooks.example.com, *.internal.example.com:8443")
	if err != nil {
		t.Fatal(err)
	}
	c := enqueuer.New(rdb, enqueuer.Options{WebhookHosts: hosts})
	t.Cleanup(func() { _ = c.Close() })
	off, _ := newClient(t)
	req := func(url string) enqueuer.Request {
		return enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k", CallbackURL: url}
	}
	for _, tc := range []struct {
		client *enqueuer.Client
		url    string
		want   string // "" accepted
	}{
		{c, "https://hooks.example.com/done", ""},
		{c, "https://a.internal.example.com:8443/x", ""},
		{c, "https://a.internal.example.com/x", "not in WEBHOOK_ALLOWED_HOSTS"},
		{c, "http://169.254.169.254/latest/meta-data", "not in WEBHOOK_ALLOWED_HOSTS"},
		{c, "https://user:pw@hooks.example.com/", "must not carry a user or password"},
		{c, "ftp://hooks.example.com/", "http or https"},
		{off, "https://hooks.example.com/done", "callbacks are off"},
	} {
		r := req(tc.url)
		r.ID = fmt.Sprintf("cb-%d", len(tc.url))
		_, err := tc.client.Enqueue(t.Context(), r)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, enqueuer.ErrInvalid)):
			t.Errorf("%s: %v, want an invalid request saying %q", tc.url, err, tc.want)
		}
		if tc.want == "" {
			if _, err := tc.client.Cancel(t.Context(), r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := req("")
	r.CallbackEvents = "all"
	if _, err := c.Enqueue(t.Context(), r); err == nil || !strings.Contains(err.Error(), "callback_events") {
		t.Errorf("callback_events alone: %v", err)
	}
	r = req("https://hooks.example.com/done")
	r.ID, r.CallbackEvents = "cb-all", "all"
	st, err := c.Enqueue(t.Context(), r)
	if err != nil || st.CallbackURL != "https://hooks.example.com/done" || st.CallbackEvents != "all" {
		t.Errorf("status %+v (%v)", st, err)
	}
}
