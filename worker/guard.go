package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// The guardrails before anything irreversible happens to a request's
// nodes, checked before its drain starts and again before its RemoveNode
// call: the pause switch (pause.go), the cluster's maintenance windows,
// what CCE shows of the cluster (ShowCluster: Available or Unavailable;
// ListNodes: each node in the cluster, in a phase CCE can remove), its
// minimum and its disruption budget (removal.Admission). What can pass
// later is a wait that uses no attempt, its reason in the request's
// `waiting`; what cannot fails the node or the request with the reason.

// guards is what the worker reads and writes of the guardrails.
type guards interface {
	ClusterSettings(ctx context.Context, cluster string) (removal.ClusterSettings, error)
	Disruption(ctx context.Context, project, cluster string) (removal.Disruption, error)
	Admit(ctx context.Context, id string, d removal.Disruption) (*removal.Record, error)
	FailNodes(ctx context.Context, id string, reasons map[string]string) (*removal.Record, *removal.Change, error)
}

// noGuard is the fleet's guard when the worker is given none: no budget,
// no minimum, no window.
var noGuard = removal.Guard{MaxDisrupting: removal.Budget{N: 100, Percent: true}}

// guardOf is what is in force for a cluster with settings s.
func (w *Server) guardOf(s removal.ClusterSettings) removal.Guard {
	fleet := noGuard
	if w.cfg.Guard != nil {
		fleet = *w.cfg.Guard
	}
	return s.Resolve(fleet)
}

// Fresh enough: what CCE showed of a cluster is looked at again after
// viewMaxAge for a drain's start and a budget's wait, and after viewFresh
// right before a RemoveNode call.
const (
	viewMaxAge = 10 * time.Second
	viewFresh  = time.Second
)

// clusterView is what CCE showed of a cluster: its phase (ShowCluster) and
// nodes (ListNodes), read at a moment.
type clusterView struct {
	at      time.Time
	missing bool // ShowCluster answered 404
	phase   cce.ClusterPhase
	nodes   map[string]cce.Node
}

// clusterNodes is the view as removal.Admission takes it.
func (v *clusterView) clusterNodes() removal.ClusterNodes {
	live := make(map[string]bool, len(v.nodes))
	for uid, n := range v.nodes {
		if n.Status.Phase != cce.NodeDeleting {
			live[uid] = true
		}
	}
	return removal.ClusterNodes{Total: len(v.nodes), Live: live}
}

// clusterWait says why nothing may be removed from the cluster now, and
// whether that is for good.
func (v *clusterView) clusterWait(project, cluster string) (why string, forGood bool) {
	switch {
	case v.missing:
		return fmt.Sprintf("CCE has no cluster %s in project %s", cluster, project), true
	case v.phase.Removable():
		return "", false
	case v.phase.Gone():
		return fmt.Sprintf("cluster %s is %s", cluster, v.phase), true
	}
	return fmt.Sprintf("cluster %s is %s; RemoveNode needs it Available (or Unavailable)", cluster, v.phase), false
}

// nodeFailures are the reasons the nodes uids cannot be removed, as the
// view shows them (with ShowNode's answers for those it does not list):
// not in the cluster, or in a phase CCE cannot remove.
func (v *clusterView) nodeFailures(cluster string, uids []string, notFound map[string]string) map[string]string {
	out := map[string]string{}
	for _, uid := range uids {
		n, ok := v.nodes[uid]
		switch {
		case !ok:
			out[uid] = fmt.Sprintf("node %s is not in cluster %s", uid, cluster)
			if why := notFound[uid]; why != "" {
				out[uid] += ": " + why
			}
		case !n.Status.Phase.Removable():
			out[uid] = fmt.Sprintf("node %s is %s in CCE; RemoveNode needs it Active, Abnormal or Error", uid, n.Status.Phase)
		}
	}
	return out
}

// views keeps what CCE showed of each cluster for a short while, so that
// requests waiting for room do not each ask again.
type views struct {
	mu sync.Mutex
	m  map[string]*clusterView
}

// view returns what CCE shows of a cluster, asked again when what this
// worker saw is older than maxAge. It takes two read slots.
func (w *Server) view(ctx context.Context, region, project, cluster string, maxAge time.Duration) (*clusterView, error) {
	key := project + "/" + cluster
	now := w.now()
	w.views.mu.Lock()
	v := w.views.m[key]
	w.views.mu.Unlock()
	if v != nil && now.Sub(v.at) < maxAge {
		return v, nil
	}
	v = &clusterView{at: now}
	if err := w.readSlot(ctx, region, project, "ShowCluster"); err != nil {
		return nil, err
	}
	api := w.cceOf(region)
	c, err := api.ShowCluster(ctx, project, cluster)
	switch {
	case cce.IsNotFound(err):
		v.missing = true
	case err != nil:
		return nil, w.readFailed(ctx, region, project, "ShowCluster", err)
	default:
		v.phase = c.Status.Phase
		if err := w.readSlot(ctx, region, project, "ListNodes"); err != nil {
			return nil, err
		}
		nodes, err := api.ListNodes(ctx, project, cluster)
		if err != nil {
			return nil, w.readFailed(ctx, region, project, "ListNodes", err)
		}
		v.nodes = make(map[string]cce.Node, len(nodes))
		for _, n := range nodes {
			v.nodes[n.Metadata.UID] = n
		}
	}
	w.views.mu.Lock()
	if w.views.m == nil {
		w.views.m = map[string]*clusterView{}
	}
	w.views.m[key] = v
	w.views.mu.Unlock()
	return v, nil
}

// confirmNodes asks CCE again (ShowNode) about the nodes uids the view
// does not list, before anything fails them for not being in the cluster:
// a list can lag behind a node just made. It returns the view with those
// found added (a copy: views are shared), and CCE's answer for each that
// is not found.
func (w *Server) confirmNodes(ctx context.Context, v *clusterView, region, project, cluster string, uids []string) (*clusterView, map[string]string, error) {
	notFound := map[string]string{}
	if v.missing {
		return v, notFound, nil
	}
	var found []*cce.Node
	for _, uid := range uids {
		if _, ok := v.nodes[uid]; ok {
			continue
		}
		if err := w.readSlot(ctx, region, project, "ShowNode"); err != nil {
			return nil, nil, err
		}
		n, err := w.cceOf(region).ShowNode(ctx, project, cluster, uid)
		switch {
		case cce.IsNotFound(err):
			notFound[uid] = failureReason(err)
			continue
		case err != nil:
			return nil, nil, w.readFailed(ctx, region, project, "ShowNode", err)
		}
		found = append(found, n)
	}
	if len(found) == 0 {
		return v, notFound, nil
	}
	nv := &clusterView{at: v.at, phase: v.phase, nodes: maps.Clone(v.nodes)}
	for _, n := range found {
		nv.nodes[n.Metadata.UID] = *n
	}
	w.views.mu.Lock()
	if w.views.m[project+"/"+cluster] == v {
		w.views.m[project+"/"+cluster] = nv
	}
	w.views.mu.Unlock()
	return nv, notFound, nil
}

// readFailed is the error of a CCE read that failed: a throttled one is a
// wait (and slows every worker's reads).
func (w *Server) readFailed(ctx context.Context, region, project, op string, err error) error {
	if refused := w.refusedCredentials(op, err); refused != nil {
		return refused
	}
	if cce.Classify(err) == cce.ClassThrottled {
		w.readsThrottled(ctx, region, project, err)
		return waitBackoff(retryAfter(err), 0, "%s: %v", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// failNodes fails the nodes of request id a preflight found CCE cannot
// remove, and uncordons those the request cordoned.
func (w *Server) failNodes(ctx context.Context, id string, failed map[string]string) (*removal.Record, error) {
	after, ch, err := w.guards.FailNodes(ctx, id, failed)
	if err != nil {
		return nil, err
	}
	w.log.Warn().Str("request_id", id).Any("nodes", failed).Msg("preflight: nodes CCE cannot remove")
	w.recordChange(nil, ch, "preflight: nodes CCE cannot remove")
	if err := w.uncordon(context.WithoutCancel(ctx), after); err != nil {
		w.log.Warn().Err(err).Str("request_id", id).Msg("could not uncordon nodes yet")
	}
	return after, nil
}

// hold notes why on the records of ids and returns the wait.
func (w *Server) hold(ctx context.Context, d time.Duration, why string, ids ...string) error {
	if err := w.pauses.Hold(ctx, why, ids...); err != nil {
		w.log.Warn().Err(err).Strs("request_ids", ids).Msg("could not note why the requests wait")
	}
	return waitFor(d, "%s", why)
}

// windowHold returns the wait of ids when no maintenance window of the
// cluster is open; nil when one is.
func (w *Server) windowHold(ctx context.Context, g removal.Guard, cluster string, ids ...string) error {
	why, until := removal.WindowWait(g, cluster, w.now())
	if why == "" {
		return nil
	}
	return w.hold(ctx, min(max(until, time.Second), w.cfg.GuardRecheck), why, ids...)
}

// admitDrain lets request rec's drain start once every guardrail allows
// it: nil when it may, else the wait or the end (errLookAgain once rec was
// failed).
func (w *Server) admitDrain(ctx context.Context, rec *removal.Record) error {
	if err := w.heldByPause(ctx, rec.ClusterID, rec.RequestID); err != nil {
		return err
	}
	settings, err := w.guards.ClusterSettings(ctx, rec.ClusterID)
	if err != nil {
		return err
	}
	g := w.guardOf(settings)
	if err := w.windowHold(ctx, g, rec.ClusterID, rec.RequestID); err != nil {
		return err
	}
	v, err := w.view(ctx, rec.Region, rec.ProjectID, rec.ClusterID, viewMaxAge)
	if err != nil {
		return err
	}
	if why, forGood := v.clusterWait(rec.ProjectID, rec.ClusterID); forGood {
		w.abandon(ctx, rec.RequestID, why, "cluster gone")
		return giveUp("request %s: %s", rec.RequestID, why)
	} else if why != "" {
		return w.hold(ctx, w.cfg.GuardRecheck, why, rec.RequestID)
	}
	v, notFound, err := w.confirmNodes(ctx, v, rec.Region, rec.ProjectID, rec.ClusterID, rec.OpenNodes())
	if err != nil {
		return err
	}
	if failed := v.nodeFailures(rec.ClusterID, rec.OpenNodes(), notFound); len(failed) > 0 {
		after, err := w.failNodes(ctx, rec.RequestID, failed)
		if err != nil {
			return err
		}
		if after.State.Final() {
			return giveUp("request %s: preflight: %s", rec.RequestID, after.Error)
		}
		*rec = *after
	}
	for range lookAgain {
		d, err := w.guards.Disruption(ctx, rec.ProjectID, rec.ClusterID)
		if err != nil {
			return err
		}
		a := removal.Admission{ClusterID: rec.ClusterID, Guard: g, Nodes: v.clusterNodes(), Use: d}
		verdict := a.Decide(rec.RequestID, rec.OpenNodes())
		switch {
		case verdict.Refuse != "":
			w.abandon(ctx, rec.RequestID, verdict.Refuse, "refused: under the cluster's minimum")
			return giveUp("request %s: refused: %s", rec.RequestID, verdict.Refuse)
		case !verdict.Go:
			return w.hold(ctx, w.cfg.GuardRecheck, verdict.Wait, rec.RequestID)
		case verdict.Before:
			return nil
		}
		after, err := w.guards.Admit(ctx, rec.RequestID, d)
		if errors.Is(err, removal.ErrStale) {
			continue
		}
		if err != nil {
			return err
		}
		*rec = *after
		return nil
	}
	return wait(0, "cluster %s: its budget keeps changing", rec.ClusterID)
}

// preflight checks, right before a RemoveNode call is formed from f, what
// CCE shows of the cluster and of the nodes of its queued requests, and
// sets the admission the batch is picked with. It returns the view, or the
// wait; refused is true when it failed nodes or requests (read the waiting
// requests again and pick again). When it ended request self (the task's
// own), the error gives the task up with the reason.
func (w *Server) preflight(ctx context.Context, f *store.Forming, region string, g removal.Guard, self string) (a *removal.Admission, refused bool, err error) {
	ids := queuedIDs(f)
	v, err := w.view(ctx, region, f.Project, f.Cluster, viewFresh)
	if err != nil {
		return nil, false, err
	}
	if why, forGood := v.clusterWait(f.Project, f.Cluster); forGood {
		for _, id := range ids {
			w.abandon(ctx, id, why, "cluster gone")
		}
		return nil, true, giveUp("request %s: %s", self, why)
	} else if why != "" {
		return nil, false, w.hold(ctx, w.cfg.GuardRecheck, why, ids...)
	}
	var all []string
	for _, id := range ids {
		all = append(all, f.Records[id].OpenNodes()...)
	}
	v, notFound, err := w.confirmNodes(ctx, v, region, f.Project, f.Cluster, all)
	if err != nil {
		return nil, false, err
	}
	failed := map[string]map[string]string{} // request → node → why
	for _, id := range ids {
		if why := v.nodeFailures(f.Cluster, f.Records[id].OpenNodes(), notFound); len(why) > 0 {
			failed[id] = why
		}
	}
	w.protectedNodes(ctx, f, region, v, ids, failed)
	var ended error // the task's own request failed
	for id, why := range failed {
		after, err := w.failNodes(ctx, id, why)
		if err != nil {
			return nil, false, err
		}
		refused = true
		if id == self && after.State.Final() {
			ended = giveUp("request %s: preflight: %s", self, after.Error)
		}
	}
	if refused {
		return nil, true, ended
	}
	return &removal.Admission{ClusterID: f.Cluster, Guard: g, Nodes: v.clusterNodes(), Use: f.Disruption}, false, nil
}

// protectedNodes adds to failed (request → node → why), when this worker
// reaches the cluster's Kubernetes API, the nodes of the requests ids that
// do not drain whose Kubernetes Node is protected from removal (a drain
// looks at its own before it cordons); nodes failed already are not looked
// at. It is best effort: a request without a drain does not need
// Kubernetes, so a Node not found, or Kubernetes out of reach, holds
// nothing back (and is logged).
func (w *Server) protectedNodes(ctx context.Context, f *store.Forming, region string, v *clusterView, ids []string, failed map[string]map[string]string) {
	if w.cfg.Kube == nil || !w.cfg.Kube.Enabled() {
		return
	}
	var kc kubernetes.Interface
	for _, id := range ids {
		r := f.Records[id]
		if r.Drain != nil {
			continue
		}
		for _, uid := range r.OpenNodes() {
			cn, ok := v.nodes[uid]
			if _, gone := failed[id][uid]; !ok || gone {
				continue
			}
			if kc == nil {
				var err error
				if kc, err = w.cfg.Kube.Client(ctx, region, f.Project, f.Cluster); err != nil {
					w.log.Warn().Err(err).Str("cluster_id", f.Cluster).Msg("preflight: Kubernetes out of reach; protected Nodes not looked at")
					return
				}
			}
			kn, err := drain.FindNode(ctx, kc, cn.Metadata.Name, cn.Status.PrivateIP)
			if err != nil {
				if !errors.Is(err, drain.ErrNodeNotFound) {
					w.log.Warn().Err(err).Str("cluster_id", f.Cluster).Str("node_uid", uid).Msg("preflight: could not look at the Kubernetes Node")
				}
				continue
			}
			if a := drain.Protected(kn); a != "" {
				if failed[id] == nil {
					failed[id] = map[string]string{}
				}
				failed[id][uid] = fmt.Sprintf("Kubernetes Node %s is protected by its annotation %s=true; nothing was touched", kn.Name, a)
			}
		}
	}
}

// readyHold returns the wait of a ready batch (formed, found not sent) whose
// cluster has no maintenance window open, or is in a phase RemoveNode does
// not take now; nil when it may be sent. Its members were admitted to the
// budget when it formed.
func (w *Server) readyHold(ctx context.Context, b *removal.Batch) error {
	settings, err := w.guards.ClusterSettings(ctx, b.ClusterID)
	if err != nil {
		return err
	}
	if err := w.windowHold(ctx, w.guardOf(settings), b.ClusterID, b.RequestIDs()...); err != nil {
		return err
	}
	v, err := w.view(ctx, b.Region, b.ProjectID, b.ClusterID, viewFresh)
	if err != nil {
		return err
	}
	if why, forGood := v.clusterWait(b.ProjectID, b.ClusterID); why != "" && !forGood {
		return w.hold(ctx, w.cfg.GuardRecheck, why, b.RequestIDs()...)
	}
	return nil // a cluster gone: CCE's refusal ends the batch
}

// seenNode is node uid as the last view of its cluster showed it, if this
// worker has one fresh enough.
func (w *Server) seenNode(project, cluster, uid string) (*cce.Node, bool) {
	w.views.mu.Lock()
	v := w.views.m[project+"/"+cluster]
	w.views.mu.Unlock()
	if v == nil || w.now().Sub(v.at) >= viewMaxAge {
		return nil, false
	}
	n, ok := v.nodes[uid]
	if !ok {
		return nil, false
	}
	return &n, true
}
