package main

import (
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

// TestWatch: watch on a request prints its events as they happen and exits
// once it is final (1: it did not succeed); on a final one it says so and
// exits at once.
func TestWatch(t *testing.T) {
	env, _ := redisEnv(t)
	if r := runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--ssh-key", "k", "--request-id", "w1"); r.code != 0 {
		t.Fatalf("enqueue: %+v", r)
	}
	done := make(chan result, 1)
	go func() { done <- runMain(t, env, "", "watch", "w1") }()
	var r result
	testkit.WaitFor(t, 20*time.Second, "watch to end after the cancel", func() bool {
		select {
		case r = <-done:
			return true
		default: // cancelled before watch subscribed: it then says so and ends too
			runMain(t, env, "", "cancel", "w1")
			return false
		}
	})
	if r.code != exitFailure || !strings.Contains(r.stdout, "w1") || !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("watch: %+v", r)
	}
	if r := runMain(t, env, "", "watch", "w1"); r.code != exitFailure || !strings.Contains(r.stdout, "w1 is cancelled already") {
		t.Errorf("watch a final request: %+v", r)
	}
	r = runMain(t, env, "", "watch", "--after", "0-0", "--json", "w1")
	if r.code != exitFailure || !strings.Contains(r.stdout, `"type":"dev.noderemover.request.queued"`) ||
		!strings.Contains(r.stdout, `"type":"dev.noderemover.request.cancelled"`) {
		t.Errorf("watch --after 0-0 --json: %+v", r)
	}
	if r := runMain(t, env, "", "watch", "ghost"); r.code != exitFailure || !strings.Contains(r.stderr, "not found") {
		t.Errorf("watch unknown: %+v", r)
	}
	if r := runMain(t, env, "", "watch", "--after", "soon"); r.code != exitUsage {
		t.Errorf("watch --after soon: %+v", r)
	}
}

// TestEnqueueWait: enqueue --wait prints the final status.
func TestEnqueueWait(t *testing.T) {
	env, _ := redisEnv(t)
	done := make(chan result, 1)
	go func() {
		done <- runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(2), "--ssh-key", "k", "--request-id", "ew", "--wait")
	}()
	var r result
	testkit.WaitFor(t, 20*time.Second, "enqueue --wait to end after the cancel", func() bool {
		select {
		case r = <-done:
			return true
		default:
			runMain(t, env, "", "cancel", "ew")
			return false
		}
	})
	if r.code != exitFailure || !strings.Contains(r.stdout, `"state":"cancelled"`) {
		t.Errorf("enqueue --wait: %+v", r)
	}
}
