package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestWebhookSurvivesFailuresAndAWorkerKill: the receiver fails, then holds
// the next delivery while its worker is SIGKILLed, then answers; the final
// event arrives, signed, at least once, from the worker started after. A
// request naming a host not allowed is refused at enqueue.
func TestWebhookSurvivesFailuresAndAWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes and waits for asynq's recoverer")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	srv := redistest.Start(t, redistest.Options{})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	fake := ccetest.NewServer(ccetest.Options{Token: token, JobDuration: 300 * time.Millisecond, AutoNodes: true})
	t.Cleanup(fake.Close)

	var mu sync.Mutex
	attempts, holding := 0, make(chan struct{})
	release := make(chan struct{})
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		switch n {
		case 1:
			http.Error(w, "not now", http.StatusBadGateway)
		case 2:
			close(holding) // the worker waits for this answer...
			<-release      // ...and is killed meanwhile
			w.WriteHeader(http.StatusOK)
		default:
			mu.Lock()
			got, bodies = append(got, r.Clone(r.Context())), append(bodies, body)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(recv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	u, _ := url.Parse(recv.URL)

	env := []string{
		"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		"WEBHOOK_ALLOWED_HOSTS=" + u.Host, "WEBHOOK_SECRET=" + webhookSecret,
		"CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=100ms",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "POLL_FIRST_DELAY=300ms",
		"RETRY_BACKOFF_MIN=100ms", "RETRY_BACKOFF_MAX=1s", "HTTP_ADDR=127.0.0.1:0",
	}
	bin := proctest.Binary(t, true)
	first := proctest.Start(t, bin, env, "worker")

	hosts, _ := enqueuer.ParseAllowedHosts(u.Host)
	enq := enqueuer.New(rdb, enqueuer.Options{WebhookHosts: hosts})
	defer enq.Close()
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "elsewhere", ProjectID: project, ClusterID: "hooks",
		Nodes: []string{"00000000-0000-4000-8000-0000000000e1"}, SSHKey: "k", CallbackURL: "http://10.0.0.1/steal"}); err == nil ||
		!strings.Contains(err.Error(), "WEBHOOK_ALLOWED_HOSTS") {
		t.Fatalf("a callback to a host not allowed: %v", err)
	}
	const id = "hooked"
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: id, ProjectID: project, ClusterID: "hooks",
		Nodes: []string{"00000000-0000-4000-8000-0000000000e2"}, SSHKey: "k", CallbackURL: recv.URL + "/done"}); err != nil {
		t.Fatal(err)
	}
	st := waitRequestFinal(t, enq, id, time.Minute)
	if st.State != removal.StateSucceeded {
		t.Fatalf("request %s: %+v", id, st)
	}
	select {
	case <-holding:
	case <-time.After(time.Minute):
		t.Fatal("the worker did not try the callback again after a 502")
	}
	first.Kill() // mid-delivery
	close(release)
	second := proctest.Start(t, bin, env, "worker")
	// asynq gives the killed worker's task back once its lease ran out
	// (30 s) at its recoverer's next run (each minute).
	testkit.WaitFor(t, 3*time.Minute, "the final event delivered after the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	// The spec's algorithm, written out.
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(body)
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.Header.Get("webhook-signature") != want {
		t.Errorf("webhook-signature %q, want %q", r.Header.Get("webhook-signature"), want)
	}
	var ev removal.CloudEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != removal.RequestEventType(removal.StateSucceeded) ||
		ev.Subject != id || ev.ID != r.Header.Get("webhook-id") {
		t.Errorf("delivered %s (%v)", body, err)
	}
	if out := first.Stderr() + second.Stderr(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic") {
		t.Errorf("a worker raced or panicked:\n%s", out)
	}
}
