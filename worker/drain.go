package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// The drain stage of a request, before its nodes join a RemoveNode call.
// One run makes one pass over each node still draining: a node seen for
// the first time is found in Kubernetes (by the name and private IP CCE
// gives), refused if protected, cordoned and marked; then its Pods are
// evicted as far as their PodDisruptionBudgets allow. What the pass found
// is written in one plan (removal.DrainStep decides, timeouts included), and
// the task comes back on a schedule: a handler never waits for Pods to go,
// and a killed worker's drain is carried on by the next run, wherever it
// runs. Kubernetes Events on each Node tell its story.

// drain carries request rec's drain on by one pass.
func (w *Server) drain(ctx context.Context, rec *removal.Record) error {
	before := rec.Clone()
	results := map[string]removal.NodeDrainResult{}
	var passErr error
	var kc kubernetes.Interface
	if w.cfg.Kube == nil || !w.cfg.Kube.Enabled() {
		for _, uid := range rec.OpenNodes() {
			results[uid] = removal.NodeDrainResult{Failed: "the request asks for a drain and this worker has no " +
				"Kubernetes access (KUBE_ACCESS=none): set KUBE_ACCESS to cce or dir on the workers"}
		}
	} else {
		var err error
		if kc, err = w.cfg.Kube.Client(ctx, rec.Region, rec.ProjectID, rec.ClusterID); err != nil {
			if refused := w.refusedCredentials("ClusterCert", err); refused != nil {
				return refused
			}
			if cce.Classify(err) == cce.ClassThrottled { // CCE throttled the kubeconfig's issue: a wait
				w.readsThrottled(ctx, rec.Region, rec.ProjectID, err)
				return waitBackoff(retryAfter(err), 0, "drain request %s: Kubernetes access: %v", rec.RequestID, err)
			}
			return fmt.Errorf("drain request %s: %w", rec.RequestID, err)
		}
		passErr = w.drainPass(ctx, kc, rec, results) // rec as written, when it found Nodes
	}
	if errors.Is(passErr, removal.ErrStale) {
		return errLookAgain // cancelled, say: the next look uncordons
	}
	after := rec
	if len(results) > 0 {
		var err error
		after, _, err = w.records.DrainStep(ctx, rec.RequestID, results)
		if errors.Is(err, removal.ErrStale) {
			return errLookAgain
		}
		if err != nil {
			return err
		}
	}
	if after.State != before.State {
		w.recordChange(nil, &removal.Change{Record: after, From: before.State}, drainWhy(after))
	}
	w.observeDrain(before, after)
	if kc != nil {
		w.drainEvents(context.WithoutCancel(ctx), kc, before, after)
	}
	if err := w.uncordon(ctx, after); err != nil {
		return err
	}
	switch {
	case passErr != nil:
		return passErr
	case after.State == removal.StateDraining:
		return waitFor(w.drainInterval(after), "request %s: draining", after.RequestID)
	case after.State == removal.StateQueued:
		return errLookAgain // drained: on to its RemoveNode call
	}
	return nil
}

// drainPass looks at each node of rec that drains and notes what it found
// in results. A node seen for the first time is found in Kubernetes and
// what was found is written before it is cordoned (removal.NodeDrainResult
// Found). It stops at the first error that is not the node's own
// (Kubernetes or CCE out of reach), keeping what it found before it.
func (w *Server) drainPass(ctx context.Context, kc kubernetes.Interface, rec *removal.Record, results map[string]removal.NodeDrainResult) error {
	found := map[string]removal.NodeDrainResult{}
	for _, n := range rec.Nodes {
		if n.State != removal.NodePending || rec.Kube[n.UID] != "" {
			continue
		}
		res, err := w.findNode(ctx, kc, rec, n.UID)
		if err != nil {
			return fmt.Errorf("drain node %s of request %s: %w", n.UID, rec.RequestID, err)
		}
		found[n.UID] = res
	}
	if len(found) > 0 {
		after, _, err := w.records.DrainStep(ctx, rec.RequestID, found)
		if err != nil {
			return err
		}
		*rec = *after.Clone()
	}
	o := drainOptions(rec.Drain)
	for _, n := range rec.Nodes {
		var res removal.NodeDrainResult
		var err error
		switch n.State {
		case removal.NodePending:
			res, err = w.startNodeDrain(ctx, kc, rec, n.UID, o)
		case removal.NodeDraining:
			res, err = w.stepNodeDrain(ctx, kc, rec.Kube[n.UID], o)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("drain node %s of request %s: %w", n.UID, rec.RequestID, err)
		}
		results[n.UID] = res
	}
	return nil
}

// findNode finds node uid's Kubernetes Node by the name and private IP CCE
// gives, and refuses a protected one.
func (w *Server) findNode(ctx context.Context, kc kubernetes.Interface, rec *removal.Record, uid string) (removal.NodeDrainResult, error) {
	cn, seen := w.seenNode(rec.ProjectID, rec.ClusterID, uid) // ListNodes, as the guardrails read it
	var err error
	if !seen {
		if err := w.readSlot(ctx, rec.Region, rec.ProjectID, "ShowNode"); err != nil {
			return removal.NodeDrainResult{}, err
		}
		cn, err = w.cceOf(rec.Region).ShowNode(ctx, rec.ProjectID, rec.ClusterID, uid)
	}
	if cce.IsNotFound(err) {
		return removal.NodeDrainResult{Failed: fmt.Sprintf("CCE has no node %s in cluster %s", uid, rec.ClusterID)}, nil
	}
	if err != nil {
		if refused := w.refusedCredentials("ShowNode", err); refused != nil {
			return removal.NodeDrainResult{}, refused
		}
		if cce.Classify(err) == cce.ClassThrottled {
			w.readsThrottled(ctx, rec.Region, rec.ProjectID, err)
			return removal.NodeDrainResult{}, waitBackoff(retryAfter(err), 0, "ShowNode before the drain: %v", err)
		}
		return removal.NodeDrainResult{}, err
	}
	kn, err := drain.FindNode(ctx, kc, cn.Metadata.Name, cn.Status.PrivateIP)
	if errors.Is(err, drain.ErrNodeNotFound) {
		return removal.NodeDrainResult{Failed: err.Error() + "; nothing was touched"}, nil
	}
	if err != nil {
		return removal.NodeDrainResult{}, err
	}
	if a := drain.Protected(kn); a != "" {
		return removal.NodeDrainResult{Failed: fmt.Sprintf("Kubernetes Node %s is protected by its annotation %s=true; nothing was touched", kn.Name, a)}, nil
	}
	return removal.NodeDrainResult{Kube: kn.Name, Found: true}, nil
}

// startNodeDrain cordons a found node's Kubernetes Node for rec and makes
// the first pass over its Pods.
func (w *Server) startNodeDrain(ctx context.Context, kc kubernetes.Interface, rec *removal.Record, uid string, o drain.Options) (removal.NodeDrainResult, error) {
	name := rec.Kube[uid]
	mine, err := drain.Cordon(ctx, kc, name, rec.RequestID)
	if err != nil {
		return removal.NodeDrainResult{}, err
	}
	how := "cordoned it"
	if !mine {
		how = "found it cordoned by someone else, and will leave it cordoned"
	}
	w.nodeEvent(ctx, kc, name, corev1.EventTypeNormal, "Draining",
		fmt.Sprintf("noderemover request %s drains this node before CCE removes it (node %s): %s", rec.RequestID, uid, how))
	return w.stepNodeDrain(ctx, kc, name, o)
}

// stepNodeDrain makes one pass over a cordoned Node's Pods.
func (w *Server) stepNodeDrain(ctx context.Context, kc kubernetes.Interface, name string, o drain.Options) (removal.NodeDrainResult, error) {
	p, err := drain.Step(ctx, kc, name, o)
	w.cfg.Metrics.DrainPass(p.Evicted, p.Refused, len(p.PDBs) > 0)
	if err != nil && p.PodsLeft == 0 {
		return removal.NodeDrainResult{}, err // it could not look: try again
	}
	if err != nil { // an eviction failed (a webhook's 403, a 5xx): named in blocked_by, bounded by the timeout
		w.log.Warn().Err(err).Str("node", name).Msg("drain: an eviction failed; asking again on the next pass")
	}
	return removal.NodeDrainResult{Done: p.Done, Moved: p.Evicted > 0,
		Progress: removal.NodeDrain{PodsLeft: p.PodsLeft, BlockedBy: p.BlockedBy}}, nil
}

// drainOptions are a request's settings as package drain takes them.
func drainOptions(d *removal.Drain) drain.Options {
	o := drain.Options{DeleteEmptyDirData: d.DeleteEmptyDirData, Force: d.Force}
	if d.GracePeriod != nil {
		g := time.Duration(*d.GracePeriod)
		o.GracePeriod = &g
	}
	return o
}

// drainInterval is how long a draining request waits for its next pass:
// DrainInterval at first and after any progress, longer the longer its drain
// has not moved on (a tenth of that time), up to DrainIntervalMax — a
// rolling drain paced by a budget is looked at often, a budget that blocks
// for minutes less often.
func (w *Server) drainInterval(r *removal.Record) time.Duration {
	d := w.cfg.DrainInterval
	since := r.DrainMovedAt
	if since == nil {
		since = r.DrainStartedAt
	}
	if since != nil {
		d = max(d, w.now().Sub(*since)/10)
	}
	return min(d, w.cfg.DrainIntervalMax)
}

// drainWhy says, for the log, where a drain pass left the request.
func drainWhy(r *removal.Record) string {
	switch r.State {
	case removal.StateDraining:
		return "draining"
	case removal.StateQueued:
		return "drained; waiting for its RemoveNode call"
	}
	return "drain ended the request"
}

// observeDrain counts the nodes whose drain ended in this pass.
func (w *Server) observeDrain(before, after *removal.Record) {
	if after.DrainStartedAt == nil {
		return
	}
	took := w.now().Sub(*after.DrainStartedAt)
	for i, n := range after.Nodes {
		was := before.Nodes[i].State
		if was != removal.NodeDraining && was != removal.NodePending {
			continue
		}
		switch {
		case n.State == removal.NodeDrained && n.Drain != nil && n.Drain.TimedOut:
			w.cfg.Metrics.DrainEnded(metrics.DrainTimedOut, took)
		case n.State == removal.NodeDrained:
			w.cfg.Metrics.DrainEnded(metrics.DrainDrained, took)
		case n.State == removal.NodeFailed:
			w.cfg.Metrics.DrainEnded(metrics.DrainFailed, took)
		}
	}
}

// drainEvents puts an Event on each Node whose drain ended in this pass.
func (w *Server) drainEvents(ctx context.Context, kc kubernetes.Interface, before, after *removal.Record) {
	for i, n := range after.Nodes {
		name := after.Kube[n.UID]
		if name == "" || before.Nodes[i].State == n.State {
			continue
		}
		switch {
		case n.State == removal.NodeDrained && n.Drain != nil && n.Drain.TimedOut:
			w.nodeEvent(ctx, kc, name, corev1.EventTypeWarning, "HandedToCCE", fmt.Sprintf(
				"drain timed out with %d Pods left (on_timeout remove): handed to CCE for removal with them on it (request %s): %s",
				n.Drain.PodsLeft, after.RequestID, strings.Join(n.Drain.BlockedBy, "; ")))
		case n.State == removal.NodeDrained:
			w.nodeEvent(ctx, kc, name, corev1.EventTypeNormal, "HandedToCCE",
				fmt.Sprintf("drained; handed to CCE for removal (request %s)", after.RequestID))
		case n.State == removal.NodeFailed:
			w.nodeEvent(ctx, kc, name, corev1.EventTypeWarning, "DrainFailed",
				fmt.Sprintf("request %s will not remove this node: %s", after.RequestID, n.Reason))
		}
	}
}

// releaseNodes uncordons, for each request a step ended, the Nodes it
// cordoned and no longer needs; what cannot be done now is logged, and
// the request's next look (its task, or node:uncordon) does it.
func (w *Server) releaseNodes(ctx context.Context, changes []removal.Change) {
	for _, c := range changes {
		if err := w.uncordon(context.WithoutCancel(ctx), c.Record); err != nil {
			w.log.Warn().Err(err).Str("request_id", c.Record.RequestID).Msg("could not uncordon nodes yet")
		}
	}
}

// nodeEvent records an Event on a Node; one that cannot be recorded is
// logged, never a failure of the drain.
func (w *Server) nodeEvent(ctx context.Context, kc kubernetes.Interface, name, typ, reason, msg string) {
	n := &corev1.Node{}
	n.Name = name
	if err := drain.Event(ctx, kc, n, typ, reason, msg); err != nil {
		w.log.Warn().Err(err).Str("node", name).Str("reason", reason).Msg("could not record a Kubernetes Event")
	}
}

// uncordon makes schedulable again the Nodes request rec cordoned and no
// longer needs (its removal ended before CCE took them: drain failed,
// cancelled, refused), if and only if rec cordoned them, and takes them
// off its list.
func (w *Server) uncordon(ctx context.Context, rec *removal.Record) error {
	if len(rec.Uncordon) == 0 {
		return nil
	}
	if w.cfg.Kube == nil || !w.cfg.Kube.Enabled() {
		w.log.Warn().Str("request_id", rec.RequestID).Strs("nodes", rec.Uncordon).
			Msg("nodes to uncordon, and this worker has no Kubernetes access (KUBE_ACCESS=none)")
		return nil
	}
	kc, err := w.cfg.Kube.Client(ctx, rec.Region, rec.ProjectID, rec.ClusterID)
	if err != nil {
		return fmt.Errorf("uncordon nodes of request %s: %w", rec.RequestID, err)
	}
	var done []string
	var errs []error
	for _, name := range rec.Uncordon {
		undone, err := drain.Uncordon(ctx, kc, name, rec.RequestID)
		if err != nil {
			errs = append(errs, fmt.Errorf("uncordon %s: %w", name, err))
			continue
		}
		done = append(done, name)
		if undone {
			w.nodeEvent(ctx, kc, name, corev1.EventTypeNormal, "Uncordoned",
				fmt.Sprintf("request %s ended without removing this node (%s): uncordoned", rec.RequestID, rec.State))
		}
		w.log.Info().Str("request_id", rec.RequestID).Str("node", name).Bool("uncordoned", undone).
			Msg("node given back to the scheduler")
	}
	if len(done) > 0 {
		if _, err := w.records.Uncordoned(context.WithoutCancel(ctx), rec.RequestID, done); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// handleUncordon is the task that uncordons what a cancelled request had
// cordoned (node:uncordon).
func (w *Server) handleUncordon(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeUncordon(t.Payload())
	if err != nil {
		return err
	}
	rec, err := w.records.Get(ctx, p.RequestID)
	if errors.Is(err, removal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.State.Final() {
		return nil // its own task carries it on, and uncordons when it ends
	}
	return w.uncordon(ctx, rec)
}
