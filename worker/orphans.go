package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/internal/asynqerr"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// orphanBatch bounds the open requests one sweep looks at.
const orphanBatch = 500

// The enqueuer stores a request's record, then its task: two writes, since
// on Redis Cluster the two live in different slots. When Redis goes away
// between them and the enqueuer cannot undo the record, the request is
// queued with no task to carry it and would hold its nodes for ever. Every
// worker looks, every OrphanAfter/2, for queued requests older than
// OrphanAfter that have no task, and enqueues their task again; the task id
// is the request's, so two workers doing it at once make one task.
func (w *Server) sweepOrphansEvery(ctx context.Context) {
	tick := time.NewTicker(w.cfg.OrphanAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := w.sweepOrphans(ctx); err != nil && ctx.Err() == nil {
			w.log.Debug().Err(err).Msg("looking for requests without a task") // Redis down: watchRedis says so
		}
	}
}

// sweepOrphans gives each queued or draining request older than
// OrphanAfter that has no task its task again (a draining request has no
// batch: its own task is all that carries it). It looks at orphanBatch open requests a time, going
// on from where the last sweep stopped, so a large backlog costs each sweep
// the same and is covered over several.
func (w *Server) sweepOrphans(ctx context.Context) error {
	if err := w.records.TrimIndex(ctx); err != nil {
		return err
	}
	ids, last, err := w.records.OpenSince(ctx, w.orphanCursor, w.now().Add(-w.cfg.OrphanAfter), orphanBatch)
	if err != nil {
		return err
	}
	if len(ids) < orphanBatch {
		w.orphanCursor = time.Time{} // at the end: the next sweep starts from the oldest
	} else if next := last.Add(-time.Millisecond); next.After(w.orphanCursor) {
		w.orphanCursor = next // requests created in the same millisecond are looked at again
	} else {
		w.orphanCursor = last
	}
	recs, err := w.records.GetMany(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec := recs[id]
		if rec == nil || rec.State != removal.StateQueued && rec.State != removal.StateDraining {
			continue // in a batch: its batch's tasks carry it
		}
		_, err := w.inspector.GetTaskInfo(tasks.Queue, tasks.RemoveNodesTaskID(id))
		if err == nil {
			continue
		}
		if !asynqerr.NotFound(err) {
			return err
		}
		nodes := make([]string, len(rec.Nodes))
		for i, n := range rec.Nodes {
			nodes[i] = n.UID
		}
		t, err := tasks.NewRemoveNodes(tasks.RemoveNodes{RequestID: rec.RequestID, ProjectID: rec.ProjectID,
			ClusterID: rec.ClusterID, Nodes: nodes})
		if err != nil {
			return err
		}
		_, err = w.queue.EnqueueContext(ctx, t)
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
			continue // enqueued meanwhile
		case err != nil:
			return err
		}
		w.log.Warn().Str("request_id", id).Str("cluster_id", rec.ClusterID).Time("created_at", rec.CreatedAt).
			Str("state", string(rec.State)).Msg("request had no task (its enqueue was cut off, or it was deleted); enqueued its task again")
	}
	return nil
}
