package worker

import (
	"time"

	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
)

// recordChanges logs one event per request whose state changed, with what a
// removal is traced by (request, cluster, job and attempt), and counts it in
// the metrics.
func (w *Server) recordChanges(b *removal.Batch, changes []removal.Change, why string) {
	for _, c := range changes {
		w.recordChange(b, &c, why)
	}
}

func (w *Server) recordChange(b *removal.Batch, c *removal.Change, why string) {
	if c == nil {
		return
	}
	r := c.Record
	ev := w.log.Info()
	if r.State == removal.StateFailed {
		ev = w.log.Warn().Str("error", r.Error)
	}
	if b != nil {
		ev = ev.Str("batch_id", b.ID)
	}
	ev.Str("request_id", r.RequestID).
		Str("cluster_id", r.ClusterID).
		Str("job_id", r.JobID).
		Int("attempt", r.Attempts).
		Str("from", string(c.From)).
		Str("state", string(r.State)).
		Msg(why)
	w.observe(c)
}

// observe turns a state change into metrics: the phase it ends, and the
// outcome of a request that ended.
func (w *Server) observe(c *removal.Change) {
	m, r := w.cfg.Metrics, c.Record
	switch {
	case c.From == removal.StateQueued && r.SubmittingAt != nil && r.SubmittingAt.Equal(r.UpdatedAt):
		// Taken for the first time (SubmittingAt is set then, and only then,
		// with UpdatedAt): a request that went back to waiting counts once.
		m.Phase(metrics.PhaseQueued, r.SubmittingAt.Sub(r.CreatedAt))
	case c.From == removal.StateSubmitting && r.State == removal.StatePolling && r.SubmittingAt != nil && r.SubmittedAt != nil:
		m.Phase(metrics.PhaseSubmitting, r.SubmittedAt.Sub(*r.SubmittingAt))
	}
	if !r.State.Final() {
		return
	}
	if r.SubmittedAt != nil && r.FinishedAt != nil {
		m.Phase(metrics.PhaseJob, r.FinishedAt.Sub(*r.SubmittedAt))
	}
	var removed, failed int
	for _, n := range r.Nodes {
		switch n.State {
		case removal.NodeRemoved:
			removed++
		case removal.NodeFailed:
			failed++
		}
	}
	m.RequestFinished(r.Region, string(r.State), removed, failed)
}

// bookkeepingTimeout bounds the Redis writes that record what a CCE call
// did, which must happen even when the handler's context just ended (a
// shutdown): otherwise the next attempt has to reconcile.
const bookkeepingTimeout = 10 * time.Second
