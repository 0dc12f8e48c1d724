package worker_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/webhook"
	"github.com/noderemover/noderemover/worker"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a webhook endpoint that answers each attempt as told and
// keeps what it was sent.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	attempts int
	answer   func(attempt int, w http.ResponseWriter, r *http.Request) bool // false: no answer kept
	got      []delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer func(int, http.ResponseWriter, *http.Request) bool) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.attempts++
		n := rc.attempts
		rc.mu.Unlock()
		if rc.answer(n, w, r) {
			rc.mu.Lock()
			rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body})
			rc.mu.Unlock()
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// verifySpec checks a delivery with the Standard Webhooks algorithm, written
// out here apart from package webhook: HMAC-SHA256 over id.timestamp.body
// with the base64-decoded key after whsec_.
func verifySpec(t *testing.T, d delivery) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts := d.header.Get("webhook-id"), d.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(d.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := d.header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature %q, want %q", got, want)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(secs, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q", ts)
	}
	return id
}

func withWebhooks(hosts string) harnessOption {
	return func(c *worker.Config, _ *ccetest.Options) {
		key, _ := webhook.ParseSecret(hookSecret)
		allowed, _ := removal.ParseAllowedHosts(hosts)
		c.WebhookKey, c.WebhookHosts, c.WebhookTimeout = key, allowed, 300*time.Millisecond
	}
}

// hookedHarness starts a worker that may call rc, and an enqueuer that lets
// requests name it.
func hookedHarness(t *testing.T, rc *receiver) (*harness, *enqueuer.Client) {
	t.Helper()
	u, _ := url.Parse(rc.URL)
	h := newHarness(t, withWebhooks(u.Host))
	h.start()
	hosts, _ := enqueuer.ParseAllowedHosts(u.Host)
	enq := enqueuer.New(h.rdb, enqueuer.Options{WebhookHosts: hosts})
	t.Cleanup(func() { _ = enq.Close() })
	return h, enq
}

// TestWebhookDeliveredAfterFailures: the receiver fails, then answers too
// slowly, then answers: the final event arrives, signed, with the event as
// its body and its id as webhook-id.
func TestWebhookDeliveredAfterFailures(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 1:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return false
		case 2:
			<-r.Context().Done() // slower than the worker waits
			return false
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	})
	h, enq := hookedHarness(t, rc)
	nodes := uids(70, 1)
	h.fake.AddNodes(project, "hooked", nodes...)
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "hook-1", ProjectID: project, ClusterID: "hooked",
		Nodes: nodes, SSHKey: "k", CallbackURL: rc.URL + "/done?token=receiver-own"}); err != nil {
		t.Fatal(err)
	}
	h.waitFinal("hook-1", 30*time.Second)
	testkit.WaitFor(t, 30*time.Second, "the final event delivered", func() bool { return len(rc.deliveries()) > 0 })
	d := rc.deliveries()[0]
	id := verifySpec(t, d)
	var ev removal.CloudEvent
	if err := json.Unmarshal(d.body, &ev); err != nil {
		t.Fatalf("body %s: %v", d.body, err)
	}
	if ev.ID != id || ev.Type != "dev.noderemover.request.succeeded" || ev.Subject != "hook-1" || ev.SpecVersion != "1.0" {
		t.Errorf("delivered %+v (webhook-id %s)", ev, id)
	}
	if ct := d.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
		t.Errorf("Content-Type %q", ct)
	}
	var st removal.Status
	if err := json.Unmarshal(ev.Data, &st); err != nil || st.State != removal.StateSucceeded {
		t.Errorf("data %s", ev.Data)
	}
	if logs := h.logs.String(); strings.Contains(logs, "receiver-own") {
		t.Errorf("the callback's query was logged:\n%s", logs)
	}
	if rc.attempts < 3 {
		t.Errorf("%d attempts, want the two failures first", rc.attempts)
	}
}

// TestWebhookAllEvents: with callback_events all, every event of the
// request goes, in order.
func TestWebhookAllEvents(t *testing.T) {
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) bool { return true })
	h, enq := hookedHarness(t, rc)
	nodes := uids(71, 2)
	h.fake.AddNodes(project, "hooked", nodes...)
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "hook-all", ProjectID: project, ClusterID: "hooked",
		Nodes: nodes, SSHKey: "k", CallbackURL: rc.URL, CallbackEvents: "all"}); err != nil {
		t.Fatal(err)
	}
	h.waitFinal("hook-all", 30*time.Second)
	// queued, submitting, 2 × node removing, polling, 2 × node removed, succeeded
	testkit.WaitFor(t, 30*time.Second, "every event delivered", func() bool { return len(rc.deliveries()) >= 8 })
	seen := map[string]bool{}
	for _, d := range rc.deliveries() {
		seen[verifySpec(t, d)] = true
	}
	if len(seen) != 8 {
		t.Errorf("%d distinct events delivered, want 8", len(seen))
	}
}
