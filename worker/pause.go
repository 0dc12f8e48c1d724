package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/noderemover/noderemover/internal/store"
)

// The pause switch (noderemover pause / resume): before a request's drain
// starts and before a RemoveNode call, the worker asks whether its cluster
// is paused. A paused request waits, without using an attempt, its status
// saying why; nothing already accepted by CCE is held back (CCE has no
// cancel), and a drain under way goes on (it can be undone; its request
// then waits before its RemoveNode call).

// pauses is what the worker reads of the pause switch.
type pauses interface {
	PausedFor(ctx context.Context, cluster string) (scope string, since time.Time, paused bool, err error)
	Hold(ctx context.Context, id, why string) error
}

// heldByPause returns a wait when cluster is paused, having noted why on
// the records of ids; nil when it is not.
func (w *Server) heldByPause(ctx context.Context, cluster string, ids ...string) error {
	scope, since, paused, err := w.pauses.PausedFor(ctx, cluster)
	if err != nil || !paused {
		return err
	}
	why := fmt.Sprintf("paused: cluster %s since %s (noderemover resume --cluster-id %s)", cluster, since.Format(time.RFC3339), cluster)
	if scope == store.AllClusters {
		why = fmt.Sprintf("paused: every cluster since %s (noderemover resume)", since.Format(time.RFC3339))
	}
	for _, id := range ids {
		if err := w.pauses.Hold(ctx, id, why); err != nil {
			w.log.Warn().Err(err).Str("request_id", id).Msg("could not note the pause on the request")
		}
	}
	return wait(w.cfg.PauseRecheck, "cluster %s: %s", cluster, why)
}
