package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store"
)

func TestRedisLossShowAndAck(t *testing.T) {
	env, srv := redisEnv(t)
	if r := runMain(t, env, "", "redis-loss", "show"); r.code != 0 || r.stdout != "{\"data_lost\":null}\n" {
		t.Fatalf("show with no loss: %+v", r)
	}
	// A worker noticed a loss: the marker it saw is gone.
	st := store.New(srv.Client(t), store.Options{})
	m, _, err := st.EnsureMarker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := st.NoticeLoss(t.Context(), *m); err != nil || !n.First {
		t.Fatalf("notice: %+v, %v", n, err)
	}
	var shown struct {
		DataLost *struct {
			NoticedAt time.Time `json:"noticed_at"`
			DataSince time.Time `json:"data_since"`
		} `json:"data_lost"`
	}
	r := runMain(t, env, "", "redis-loss", "show")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.DataLost == nil || shown.DataLost.NoticedAt.IsZero() {
		t.Fatalf("show with a loss: %+v", r)
	}
	r = runMain(t, env, "", "redis-loss", "ack")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"acknowledged":{"noticed_at":`) {
		t.Fatalf("ack: %+v", r)
	}
	if r := runMain(t, env, "", "redis-loss", "show"); r.code != 0 || r.stdout != "{\"data_lost\":null}\n" {
		t.Errorf("show after ack: %+v", r)
	}
	if r := runMain(t, env, "", "redis-loss", "ack"); r.code != 0 || r.stdout != "{\"acknowledged\":null}\n" {
		t.Errorf("ack with nothing to acknowledge: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"redis-loss"}, "say show"},
		{[]string{"redis-loss", "forget"}, "say show"},
		{[]string{"redis-loss", "ack", "now"}, "unexpected argument"},
		{[]string{"redis-loss", "ack", "--force"}, "redis-loss ack -h"},
	} {
		if r := runMain(t, env, "", tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %+v; want exit 2 saying %q", tc.args, r, tc.want)
		}
	}
	if r := runMain(t, env, "", "redis-loss", "ack", "-h"); r.code != 0 {
		t.Errorf("ack -h: %+v", r)
	}
	srv.Stop(t)
	if r := runMain(t, env, "", "redis-loss", "ack"); r.code != exitFailure || !strings.Contains(r.stderr, "unavailable") {
		t.Errorf("ack with Redis down: %+v", r)
	}
}
