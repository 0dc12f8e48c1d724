package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

func newStore(tb testing.TB) (*store.Store, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb, redistest.Options{})
	return store.New(srv.Client(tb), store.Options{TTL: time.Hour}), srv
}

func request(id string, n int) removal.Request {
	return removal.Request{ID: id, ProjectID: "p1", ClusterID: "c1", Nodes: nodes(n), Login: removal.Login{SSHKey: "key"}}
}

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return out
}
