package logthrottle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/testkit"
)

func allow(t *Throttle, k string) string { ok, held := t.Allow(k); return fmt.Sprint(ok, held) }

func TestOneLinePerKindPerInterval(t *testing.T) {
	c := testkit.NewClock(time.Time{})
	th := New(30*time.Second, c.Now)
	steps := []struct {
		after time.Duration
		kind  string
		want  string
	}{
		{0, "Dequeue error", "true 0"},
		{time.Second, "Dequeue error", "false 0"},
		{time.Second, "Failed to forward scheduled tasks", "true 0"}, // another kind has its own budget
		{time.Second, "Dequeue error", "false 0"},
		{26 * time.Second, "Dequeue error", "false 0"}, // 29s after the first
		{time.Second, "Dequeue error", "true 3"},       // 30s: through, saying three were held
		{time.Second, "Dequeue error", "false 0"},
		{time.Minute, "Dequeue error", "true 1"},
		{time.Minute, "Dequeue error", "true 0"},
	}
	for i, s := range steps {
		c.Advance(s.after)
		if got := allow(th, s.kind); got != s.want {
			t.Errorf("step %d (%s): Allow = %s, want %s", i, s.kind, got, s.want)
		}
	}
}

func TestKindsAreBounded(t *testing.T) {
	c := testkit.NewClock(time.Time{})
	th := New(time.Minute, c.Now)
	for i := range maxKinds {
		if ok, _ := th.Allow(fmt.Sprint("kind ", i)); !ok {
			t.Fatalf("kind %d: held back on first sight", i)
		}
	}
	if ok, _ := th.Allow("one too many"); !ok {
		t.Fatal("the first kind past the bound was held back")
	}
	if ok, _ := th.Allow("two too many"); ok {
		t.Error("kinds past the bound do not share one budget")
	}
	if len(th.kinds) != maxKinds+1 {
		t.Errorf("%d kinds remembered, want %d", len(th.kinds), maxKinds+1)
	}
}

func TestKind(t *testing.T) {
	for msg, want := range map[string]string{
		"Dequeue error: UNKNOWN: redis eval error: dial tcp 127.0.0.1:6391: connect: connection refused": "Dequeue error",
		`Failed to delete expired completed tasks from queue "removals": INTERNAL_ERROR`:                 `Failed to delete expired completed tasks from queue "removals"`,
		"Starting processing": "Starting processing",
		"":                    "",
	} {
		if got := Kind(msg); got != want {
			t.Errorf("Kind(%q) = %q, want %q", msg, got, want)
		}
	}
	if got := Kind(string(make([]byte, 300))); len(got) != 100 {
		t.Errorf("Kind of a 300-byte message is %d bytes, want 100", len(got))
	}
}

func TestLogSaysHowManyWereHeldBack(t *testing.T) {
	c := testkit.NewClock(time.Time{})
	th := New(30*time.Second, c.Now)
	var out strings.Builder
	l := zerolog.New(&out)
	for range 3 {
		th.Log(l, zerolog.ErrorLevel, "Dequeue error", "Dequeue error: refused")
		c.Advance(time.Second)
	}
	c.Advance(time.Minute)
	th.Log(l, zerolog.ErrorLevel, "Dequeue error", "Dequeue error: refused")
	want := `{"level":"error","message":"Dequeue error: refused"}` + "\n" +
		`{"level":"error","repeated":2,"message":"Dequeue error: refused"}` + "\n"
	if out.String() != want {
		t.Errorf("logged\n%s\nwant\n%s", out.String(), want)
	}
}
