package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/removal"
)

// Dry runs: a worker answers "what would happen if this were asked now?"
// with every reason a node would not go, and changes nothing: it reads the
// pause, the cluster's settings and budget, the node claims, CCE
// (ShowCluster, ListNodes) and, for a drain, Kubernetes (the Nodes, their
// Pods and PodDisruptionBudgets, counted over every Pod the request would
// evict). The questions come through Redis (store.Ask), so credentials
// never leave the workers.

// dryRuns is what the worker needs of the store to answer dry runs.
type dryRuns interface {
	NextQuestion(ctx context.Context, block time.Duration) (*removal.Question, error)
	Answer(ctx context.Context, id string, d *removal.DryRun, lookErr error) error
	Claims(ctx context.Context, project, cluster string, uids []string) (map[string]string, error)
}

// dryRunsAtOnce bounds the dry runs one worker answers at a time, each with
// a goroutine; the listener holds one Redis connection while it waits.
const dryRunsAtOnce = 4

// answerDryRuns takes dry-run questions until ctx ends, and waits for the
// answers under way.
func (w *Server) answerDryRuns(ctx context.Context) {
	slots := make(chan struct{}, dryRunsAtOnce)
	var running sync.WaitGroup
	defer running.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		q, err := w.dryRuns.NextQuestion(ctx, time.Second)
		if err != nil || q == nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.log.Warn().Err(err).Msg("dry runs: could not read a question")
				t := time.NewTimer(time.Second) // Redis away (the watcher says so): do not spin
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
			continue
		}
		running.Go(func() {
			defer func() { <-slots }()
			w.answerDryRun(ctx, q)
		})
	}
}

// answerDryRun answers one question, unless its asker stopped waiting.
func (w *Server) answerDryRun(ctx context.Context, q *removal.Question) {
	if !w.now().Before(q.Deadline) {
		return
	}
	dctx, cancel := context.WithDeadline(ctx, q.Deadline)
	defer cancel()
	d, err := w.dryRun(dctx, q)
	w.log.Info().Str("cluster_id", q.ClusterID).Int("nodes", len(q.Nodes)).Bool("ok", err == nil && d.OK).Err(err).Msg("dry run")
	if aerr := w.dryRuns.Answer(context.WithoutCancel(ctx), q.ID, d, err); aerr != nil {
		w.log.Warn().Err(aerr).Msg("dry runs: could not answer")
	}
}

// dryRun finds every reason the nodes of q would not go now.
func (w *Server) dryRun(ctx context.Context, q *removal.Question) (*removal.DryRun, error) {
	reasons := map[string][]string{}
	add := func(uid, why string) { reasons[uid] = append(reasons[uid], why) }
	all := func(why string) {
		for _, uid := range q.Nodes {
			add(uid, why)
		}
	}
	if err := w.serves(q.Region); err != nil { // refused at enqueue, unless the fleets differ
		all(err.Error())
		return removal.NewDryRun(q.Nodes, reasons), nil
	}
	p, err := w.pauses.PausedFor(ctx, q.ClusterID)
	if err != nil {
		return nil, err
	}
	if p != nil {
		all(pauseReason(q.ClusterID, p))
	}
	settings, err := w.guards.ClusterSettings(ctx, q.ClusterID)
	if err != nil {
		return nil, err
	}
	g := w.guardOf(settings)
	if why, _ := removal.WindowWait(g, q.ClusterID, w.now()); why != "" {
		all(why)
	}
	claims, err := w.dryRuns.Claims(ctx, q.ProjectID, q.ClusterID, q.Nodes)
	if err != nil {
		return nil, err
	}
	for _, uid := range q.Nodes {
		if id := claims[uid]; id != "" {
			add(uid, "busy in request "+id)
		}
	}
	v, err := w.viewWaiting(ctx, q.Region, q.ProjectID, q.ClusterID)
	if err != nil {
		return nil, err
	}
	if why, _ := v.clusterWait(q.ProjectID, q.ClusterID); why != "" {
		all(why)
		if v.missing {
			return removal.NewDryRun(q.Nodes, reasons), nil
		}
	}
	v, notFound, err := w.confirmNodes(ctx, v, q.Region, q.ProjectID, q.ClusterID, q.Nodes)
	if err != nil {
		return nil, err
	}
	failed := v.nodeFailures(q.ClusterID, q.Nodes, notFound)
	var here []string // the nodes CCE could remove
	for _, uid := range q.Nodes {
		if why, ok := failed[uid]; ok {
			add(uid, why)
		} else {
			here = append(here, uid)
		}
	}
	d, err := w.guards.Disruption(ctx, q.ProjectID, q.ClusterID)
	if err != nil {
		return nil, err
	}
	a := removal.Admission{ClusterID: q.ClusterID, Guard: g, Nodes: v.clusterNodes(), Use: d}
	if verdict := a.Decide("dry-run:"+q.ID, here); verdict.Refuse != "" {
		all("refused: " + verdict.Refuse)
	} else if verdict.Wait != "" {
		all(verdict.Wait)
	}
	if err := w.dryRunKube(ctx, q, v, here, add); err != nil {
		return nil, err
	}
	return removal.NewDryRun(q.Nodes, reasons), nil
}

// dryRunKube adds what Kubernetes says of the nodes here: a Node that
// cannot be found or is protected, and, when the request drains, the Pods
// that could not be evicted and the budgets the drain would break.
func (w *Server) dryRunKube(ctx context.Context, q *removal.Question, v *clusterView, here []string, add func(uid, why string)) error {
	if w.cfg.Kube == nil || !w.cfg.Kube.Enabled() {
		if q.Drain != nil {
			for _, uid := range here {
				add(uid, "the request asks for a drain and the workers have no Kubernetes access (KUBE_ACCESS=none)")
			}
		}
		return nil
	}
	kc, err := w.cfg.Kube.Client(ctx, q.Region, q.ProjectID, q.ClusterID)
	if err != nil {
		return fmt.Errorf("reach the cluster's Kubernetes API: %w", err)
	}
	names := map[string]string{} // Node name → uid
	for _, uid := range here {
		cn := v.nodes[uid]
		kn, err := drain.FindNode(ctx, kc, cn.Metadata.Name, cn.Status.PrivateIP)
		if errors.Is(err, drain.ErrNodeNotFound) {
			add(uid, err.Error())
			continue
		}
		if err != nil {
			return err
		}
		if a := drain.Protected(kn); a != "" {
			add(uid, fmt.Sprintf("protected: Kubernetes Node %s has the annotation %s=true", kn.Name, a))
			continue
		}
		names[kn.Name] = uid
	}
	if q.Drain == nil || len(names) == 0 {
		return nil
	}
	list := make([]string, 0, len(names))
	for name := range names {
		list = append(list, name)
	}
	survey, err := drain.Survey(ctx, kc, list, drainOptions(q.Drain))
	if err != nil {
		return err
	}
	for name, s := range survey {
		uid := names[name]
		for _, why := range s.Blocked {
			add(uid, "cannot be evicted: "+why)
		}
		for _, why := range s.PDBs {
			add(uid, why)
		}
	}
	return nil
}

// viewWaiting is view for a dry run: a read slot that is not free yet is
// waited for, until ctx ends.
func (w *Server) viewWaiting(ctx context.Context, region, project, cluster string) (*clusterView, error) {
	for {
		v, err := w.view(ctx, region, project, cluster, viewMaxAge)
		var we *waitError
		if !errors.As(err, &we) {
			return v, err
		}
		t := time.NewTimer(max(we.after, 50*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("CCE reads: %s: %w", we.reason, ctx.Err())
		case <-t.C:
		}
	}
}
