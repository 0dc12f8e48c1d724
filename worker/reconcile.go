package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// reconcile settles a batch whose last RemoveNode call may or may not have
// reached CCE, by asking CCE about every node before anything is sent again:
//
//   - Deleting with a jobID: the call was accepted; adopt that job.
//   - 404: the node has left the cluster; removed.
//   - Error with a jobID: a removal ran and failed; failed, not sent again.
//   - anything else (Active, ...): not sent.
//
// A batch with an adopted job is accepted (every open node polls that job);
// one with no evidence of a call goes back to ready for its open nodes.
func (w *Server) reconcile(ctx context.Context, b *removal.Batch) (*removal.Batch, error) {
	outcomes := make(map[string]removal.Node)
	jobs := make(map[string]int)
	var jobID string
	for _, uid := range b.Nodes() {
		node, err := w.showNode(ctx, b, uid)
		var wait *waitError
		if errors.As(err, &wait) {
			return nil, err
		}
		switch {
		case cce.IsNotFound(err):
			outcomes[uid] = removal.Node{State: removal.NodeRemoved, Reason: "not in the cluster any more"}
			continue
		case err != nil:
			if cce.Classify(err) == cce.ClassThrottled {
				if !cce.IsClusterBusy(err) {
					_ = w.reads.throttled(ctx, retryAfter(err))
				}
				return nil, waitBackoff(retryAfter(err), 0, "reconcile batch %s: %v", b.ID, err)
			}
			return nil, fmt.Errorf("reconcile batch %s: %w", b.ID, err)
		}
		phase, nodeJob := node.Status.Phase, node.Status.JobID
		switch {
		case phase == cce.NodeDeleting && nodeJob != "":
			jobs[nodeJob]++
			if jobs[nodeJob] > jobs[jobID] {
				jobID = nodeJob
			}
		case phase == cce.NodeError && nodeJob != "":
			jobs[nodeJob]++
			if jobs[nodeJob] > jobs[jobID] {
				jobID = nodeJob
			}
			outcomes[uid] = removal.Node{State: removal.NodeFailed, Reason: "removal job " + nodeJob + " failed; the node is in Error"}
		}
	}
	attempt := b.Attempt
	nb, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		if b.State != removal.BatchSending || b.Attempt != attempt {
			return errStale
		}
		now := w.now()
		b.Resolve(recs, outcomes, now)
		switch {
		case b.State == removal.BatchDone:
		case jobID != "":
			b.Accept(recs, jobID, now)
		default:
			b.Unsend("reconciled: no node shows the earlier call")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	what := "reconciled: nothing was sent"
	switch {
	case nb.State == removal.BatchDone:
		what = "reconciled: every node has an outcome"
	case jobID != "":
		what = "reconciled: adopted job " + jobID
	}
	w.recordChanges(nb, changes, what)
	w.log.Info().Str("batch_id", nb.ID).Strs("request_ids", nb.RequestIDs()).Str("cluster_id", nb.ClusterID).Str("job_id", jobID).
		Int("attempt", attempt).Int("nodes_resolved", len(outcomes)).Msg(what)
	return nb, nil
}

// showNodeTries bounds the ShowNode calls reconcile makes for one node in
// one run.
const showNodeTries = 3

// reconcileReadWait is how long reconcile waits in the handler for a read
// slot before it gives up the run: going back to the queue would throw away
// the answers it has and ask for them all again.
const reconcileReadWait = 10 * time.Second

// showNode asks CCE about one node of a batch being reconciled. A passing
// fault (5xx, a cut connection, a 429) is tried again at once, a few times
// and within the read limit, so that one flaky answer among a batch's nodes
// does not throw away the answers for the others and start over.
func (w *Server) showNode(ctx context.Context, b *removal.Batch, uid string) (*cce.Node, error) {
	var err error
	for try := range showNodeTries {
		if try > 0 {
			pause := min(max(100*time.Millisecond<<try, retryAfter(err)), 2*time.Second)
			t := time.NewTimer(jitter(pause))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		if d, terr := w.reads.takeWithin(ctx, reconcileReadWait); terr != nil || d > 0 {
			return nil, errors.Join(terr, waitFor(d, "ShowNode rate limit"))
		}
		var node *cce.Node
		node, err = w.cce.ShowNode(ctx, b.ProjectID, b.ClusterID, uid)
		if err == nil || cce.IsNotFound(err) {
			return node, err
		}
		switch cce.Classify(err) {
		case cce.ClassThrottled:
			if !cce.IsClusterBusy(err) {
				_ = w.reads.throttled(ctx, retryAfter(err))
			}
		case cce.ClassRetryable:
		default:
			return nil, err
		}
	}
	return nil, err
}
