package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/enqueuer"
)

// DefaultResync is how often every Node is looked at again (WATCH_RESYNC).
const DefaultResync = 10 * time.Minute

// Kube gives a cluster's Kubernetes client; *kube.Access satisfies it.
type Kube interface {
	Client(ctx context.Context, region, projectID, clusterID string) (kubernetes.Interface, error)
}

// Nodes lists a cluster's nodes as CCE knows them; *cce.Client satisfies it.
type Nodes interface {
	ListNodes(ctx context.Context, projectID, clusterID string) ([]cce.Node, error)
}

// Config configures a Controller.
type Config struct {
	Clusters []Cluster // WATCH_CLUSTERS
	SSHKey   string    // WATCH_SSH_KEY: the key pair of a Node that names none
	Resync   time.Duration
	Logger   zerolog.Logger
}

// Controller turns annotated Nodes into removal requests and writes their
// answer back onto the Nodes.
type Controller struct {
	kube  Kube
	nodes Nodes
	enq   *enqueuer.Client
	cfg   Config

	mu       sync.Mutex
	watches  []*watch
	refusals map[string]bool // requests whose cancel CCE's acceptance refused
}

// New checks cfg and returns a controller; Run starts it.
func New(k Kube, nodes Nodes, enq *enqueuer.Client, cfg Config) (*Controller, error) {
	if len(cfg.Clusters) == 0 {
		return nil, errors.New("controller: WATCH_CLUSTERS names no cluster")
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Resync < 0 {
		return nil, fmt.Errorf("controller: WATCH_RESYNC %v is negative", cfg.Resync)
	}
	return &Controller{kube: k, nodes: nodes, enq: enq, cfg: cfg, refusals: map[string]bool{}}, nil
}

// watch is one cluster's informer, queue and requests.
type watch struct {
	cl     Cluster
	kc     kubernetes.Interface
	lister listersv1.NodeLister
	queue  workqueue.TypedRateLimitingInterface[string]
	log    zerolog.Logger

	mu       sync.Mutex
	requests map[string]string  // request id → Node name
	written  map[string]written // Node name → the answer last patched onto it
}

// written is an answer as patched onto a Node.
type written struct{ id, state, reason string }

func (w *watch) lastWritten(node string) (written, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.written[node]
	return a, ok
}

func (w *watch) wrote(node string, a written) {
	w.mu.Lock()
	w.written[node] = a
	w.mu.Unlock()
}

func (w *watch) track(id, node string) {
	w.mu.Lock()
	w.requests[id] = node
	w.mu.Unlock()
}

func (w *watch) nodeOf(id string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.requests[id]
	return n, ok
}

// Run watches every cluster until ctx ends. A cluster out of reach when it
// starts is an error: the controller would otherwise look healthy while
// it watches nothing.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg    sync.WaitGroup
		stops []func()
	)
	defer func() { // in this order: informers and feeds stop on ctx
		cancel()
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	for _, cl := range c.cfg.Clusters {
		kc, err := c.kube.Client(ctx, cl.Region, cl.ProjectID, cl.ClusterID)
		if err != nil {
			return fmt.Errorf("controller: Kubernetes of cluster %s: %w", cl, err)
		}
		f := informers.NewSharedInformerFactory(kc, c.cfg.Resync)
		inf := f.Core().V1().Nodes()
		w := &watch{cl: cl, kc: kc, lister: inf.Lister(), requests: map[string]string{}, written: map[string]written{},
			queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
			log:   c.cfg.Logger.With().Str("cluster_id", cl.ClusterID).Str("project_id", cl.ProjectID).Logger()}
		add := func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				w.queue.Add(key)
			}
		}
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    add,
			UpdateFunc: func(_, obj any) { add(obj) },
		}); err != nil {
			return fmt.Errorf("controller: cluster %s: %w", cl, err)
		}
		f.Start(ctx.Done())
		stops = append(stops, w.queue.ShutDown, f.Shutdown)
		if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
			return fmt.Errorf("controller: cluster %s: the Nodes were not listed: %w", cl, ctx.Err())
		}
		c.mu.Lock()
		c.watches = append(c.watches, w)
		c.mu.Unlock()
		wg.Add(2)
		go func() { defer wg.Done(); c.work(ctx, w) }()
		go func() { defer wg.Done(); c.follow(ctx, w) }()
		w.log.Info().Msg("watching Nodes")
	}
	<-ctx.Done()
	return nil
}

// Resync looks at every Node of every cluster again now, as the periodic
// resync does.
func (c *Controller) Resync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watches {
		nodes, err := w.lister.List(everything)
		if err != nil {
			continue
		}
		for _, n := range nodes {
			w.queue.Add(n.Name)
		}
	}
}

// work reconciles the cluster's queued Nodes, one at a time.
func (c *Controller) work(ctx context.Context, w *watch) {
	for {
		name, quit := w.queue.Get()
		if quit {
			return
		}
		err := c.reconcile(ctx, w, name)
		switch {
		case err == nil:
			w.queue.Forget(name)
		case ctx.Err() != nil:
		default:
			w.log.Warn().Err(err).Str("node", name).Msg("reconcile; trying again")
			w.queue.AddRateLimited(name)
		}
		w.queue.Done(name)
	}
}

// follow queues the Node of each request an event tells of, so its
// annotations follow the request as it moves.
func (c *Controller) follow(ctx context.Context, w *watch) {
	for ctx.Err() == nil {
		err := c.enq.Events(ctx, enqueuer.EventFilter{ClusterID: w.cl.ClusterID}, func(e enqueuer.Event) error {
			if name, ok := w.nodeOf(e.Subject); ok {
				w.queue.Add(name)
			}
			return nil
		})
		if ctx.Err() != nil || errors.Is(err, enqueuer.ErrClosed) {
			return
		}
		// Fell behind or Redis out of reach: every tracked Node is looked
		// at again, so nothing an event told is missed.
		w.log.Warn().Err(err).Msg("event stream; following again")
		w.mu.Lock()
		for _, name := range w.requests {
			w.queue.Add(name)
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
