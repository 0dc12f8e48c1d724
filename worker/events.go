package worker

import (
	"github.com/noderemover/noderemover/removal"
)

// logChanges logs one event per request whose state changed, with what the
// issue of a removal is traced by: request, cluster, job and attempt.
func (w *Server) logChanges(b *removal.Batch, changes []removal.Change, why string) {
	for _, c := range changes {
		w.logChangeIn(b, &c, why)
	}
}

func (w *Server) logChangeIn(b *removal.Batch, c *removal.Change, why string) {
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
}

// logChange logs a single record's change, if there was one.
func (w *Server) logChange(c *removal.Change, why string) {
	if c != nil {
		w.logChangeIn(nil, c, why)
	}
}
