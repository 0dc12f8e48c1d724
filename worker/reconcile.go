package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// reconcileAndSend carries on a batch whose last RemoveNode call may or may
// not have reached CCE, once that call is surely over: it asks CCE about
// every node (reconcile), then sends what did not go out, or polls the job
// that did.
func (w *Server) reconcileAndSend(ctx context.Context, b *removal.Batch) error {
	if left := b.SendingUntil.Sub(w.now()); left > 0 {
		return waitFor(left, "batch %s: a RemoveNode call may still be under way", b.ID)
	}
	if err := w.holdLease(ctx, b); err != nil {
		return err
	}
	nb, err := w.reconcileAlone(ctx, b)
	if err != nil {
		return err
	}
	if nb.State == removal.BatchSending {
		return errLookAgain // another run sent it again meanwhile
	}
	return w.moveBatch(ctx, nb) // send what did not go, or poll the job that did
}

// reconcileAlone reconciles b as the only task doing so: the others wait for
// its answer. The batch is read again once the claim is held, since a task
// that held it just before may have moved the batch on already; then there
// is nothing to ask, and what the batch is now comes back.
func (w *Server) reconcileAlone(ctx context.Context, b *removal.Batch) (*removal.Batch, error) {
	token, left, err := w.leases.ClaimReconcile(ctx, b.ID, w.sendingLease())
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, waitFor(jitter(clamp(left, minBusyWait, maxBusyWait)), "batch %s: another task is asking CCE about its nodes", b.ID)
	}
	defer func() {
		if err := w.leases.ReleaseReconcile(context.WithoutCancel(ctx), b.ID, token); err != nil {
			w.log.Warn().Err(err).Str("batch_id", b.ID).Msg("release reconciliation claim")
		}
	}()
	cur, err := w.batches.GetBatch(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	if !removal.Allows(cur, b, removal.EventReconciled) {
		return cur, nil
	}
	return w.reconcile(ctx, cur)
}

// jobClockSkew is how far CCE's clock may be behind ours: a removal job
// whose creation time is more than this before the batch's intent was
// recorded began before it, and is not the batch's.
const jobClockSkew = 30 * time.Second

// reconcile asks CCE about every node of a batch whose last call may have
// reached it, before anything is sent again, and moves the batch on by the
// answers (the lifecycle's reconciled event):
//
//   - 404: the node has left the cluster; removed.
//   - Deleting or Error with a jobID that is the batch's own, a removal job
//     that began after the batch's intent was recorded: Deleting, the call
//     went through (adopt the job); Error, that removal failed (failed).
//   - anything else, including a node whose jobID is an older job (its
//     create job, say): not sent.
//
// ShowNode asks with errorStatus, so an Error is never shown as Deleting.
func (w *Server) reconcile(ctx context.Context, b *removal.Batch) (*removal.Batch, error) {
	outcomes := make(map[string]removal.Node)
	byJob := make(map[string][]*cce.Node)
	for _, uid := range b.Nodes() {
		node, err := w.showNode(ctx, b, uid)
		switch {
		case cce.IsNotFound(err):
			outcomes[uid] = removal.Node{State: removal.NodeRemoved, Reason: "not in the cluster any more"}
			continue
		case err != nil:
			return nil, err
		}
		if p := node.Status.Phase; (p == cce.NodeDeleting || p == cce.NodeError) && node.Status.JobID != "" {
			byJob[node.Status.JobID] = append(byJob[node.Status.JobID], node)
		}
	}
	adopted := ""
	for jobID, nodes := range byJob {
		ours, err := w.ownJob(ctx, b, jobID)
		if err != nil {
			return nil, err
		}
		if !ours {
			continue // not this batch's call: those nodes were not sent
		}
		deleting := 0
		for _, n := range nodes {
			if n.Status.Phase == cce.NodeError {
				outcomes[n.Metadata.UID] = removal.Node{State: removal.NodeFailed, Reason: "removal job " + jobID + " failed; the node is in Error"}
			} else {
				deleting++
			}
		}
		if deleting > 0 && (adopted == "" || len(nodes) > len(byJob[adopted])) {
			adopted = jobID
		}
	}
	what := "reconciled: nothing was sent"
	switch {
	case len(outcomes) == len(b.Nodes()):
		what = "reconciled: every node has an outcome"
	case adopted != "":
		what = "reconciled: adopted job " + adopted
	}
	res, err := w.stepBatch(ctx, b, removal.EventReconciled, removal.Input{Now: w.now(), Outcomes: outcomes, JobID: adopted}, what)
	if err != nil {
		return nil, err
	}
	w.log.Info().Str("batch_id", b.ID).Strs("request_ids", b.RequestIDs()).Str("cluster_id", b.ClusterID).Str("job_id", adopted).
		Int("attempt", b.Attempt).Int("nodes_resolved", len(outcomes)).Msg(what)
	return res.Batch, nil
}

// ownJob reports whether job jobID, which a node of b names, is b's own
// removal: a removal job that began after b's intent was recorded.
func (w *Server) ownJob(ctx context.Context, b *removal.Batch, jobID string) (bool, error) {
	if err := w.readSlot(ctx, b.Region, b.ProjectID, "ShowJob"); err != nil {
		return false, err
	}
	job, err := w.cceOf(b.Region).ShowJob(ctx, b.ProjectID, jobID)
	switch {
	case cce.IsNotFound(err):
		return false, nil // CCE does not know it: nothing shows it is ours
	case err != nil:
		if refused := w.refusedCredentials("ShowJob", err); refused != nil {
			return false, refused
		}
		if cce.Classify(err) == cce.ClassThrottled {
			w.readsThrottled(ctx, b.Region, b.ProjectID, err)
			return false, waitBackoff(retryAfter(err), 0, "reconcile batch %s: %v", b.ID, err)
		}
		return false, fmt.Errorf("reconcile batch %s: %w", b.ID, err)
	}
	created, ok := job.Created()
	return ok && job.IsRemoval() && !created.Before(b.SendingAt.Add(-jobClockSkew)), nil
}

// showNodeTries bounds the ShowNode calls reconcile makes for one node in
// one run.
const showNodeTries = 3

// reconcileReadWait is how long reconcile waits in the handler for a read
// slot before it gives up the run: going back to the queue would throw away
// the answers it has and ask for them all again.
const reconcileReadWait = 10 * time.Second

// readSlot waits (in the handler, up to reconcileReadWait) for a read slot
// of region and project.
func (w *Server) readSlot(ctx context.Context, region, project, what string) error {
	_, d, err := w.limitsOf(region, project).reads.Take(ctx, reconcileReadWait)
	if err != nil {
		return err
	}
	if d > 0 {
		return wait(d, "%s rate limit", what)
	}
	return nil
}

// readsThrottled slows every worker's reads of region and project after a
// rate 429.
func (w *Server) readsThrottled(ctx context.Context, region, project string, err error) {
	if !cce.IsClusterBusy(err) {
		_ = w.limitsOf(region, project).reads.Throttled(ctx, retryAfter(err))
	}
}

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
		if serr := w.readSlot(ctx, b.Region, b.ProjectID, "ShowNode"); serr != nil {
			return nil, serr
		}
		var node *cce.Node
		node, err = w.cceOf(b.Region).ShowNode(ctx, b.ProjectID, b.ClusterID, uid)
		if err == nil || cce.IsNotFound(err) {
			return node, err
		}
		switch cce.Classify(err) {
		case cce.ClassThrottled:
			w.readsThrottled(ctx, b.Region, b.ProjectID, err)
		case cce.ClassRetryable:
		case cce.ClassCredentials:
			return nil, w.refusedCredentials("ShowNode", err)
		default:
			return nil, fmt.Errorf("reconcile batch %s: %w", b.ID, err)
		}
	}
	if cce.Classify(err) == cce.ClassThrottled {
		return nil, waitBackoff(retryAfter(err), 0, "reconcile batch %s: %v", b.ID, err)
	}
	return nil, fmt.Errorf("reconcile batch %s: %w", b.ID, err)
}
