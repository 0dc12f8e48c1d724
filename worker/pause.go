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
	PausedFor(ctx context.Context, cluster string) (*store.Pause, error)
	Hold(ctx context.Context, why string, ids ...string) error
}

// heldByPause returns a wait when cluster is paused, having noted why on
// the records of ids; nil when it is not.
func (w *Server) heldByPause(ctx context.Context, cluster string, ids ...string) error {
	p, err := w.pauses.PausedFor(ctx, cluster)
	if err != nil {
		return err
	}
	return w.holdForPause(ctx, cluster, p, ids)
}

// holdForPause is heldByPause with the pause read already (nil: none).
func (w *Server) holdForPause(ctx context.Context, cluster string, p *store.Pause, ids []string) error {
	if p == nil {
		return nil
	}
	why := pauseReason(cluster, p)
	if err := w.pauses.Hold(ctx, why, ids...); err != nil {
		w.log.Warn().Err(err).Strs("request_ids", ids).Msg("could not note the pause on the requests")
	}
	return wait(w.cfg.GuardRecheck, "cluster %s: %s", cluster, why)
}

// pauseReason says what pause p holds cluster with.
func pauseReason(cluster string, p *store.Pause) string {
	if p.Scope == store.AllClusters {
		return fmt.Sprintf("paused: every cluster since %s (noderemover resume)", p.Since.Format(time.RFC3339))
	}
	return fmt.Sprintf("paused: cluster %s since %s (noderemover resume --cluster-id %s)", cluster, p.Since.Format(time.RFC3339), cluster)
}
