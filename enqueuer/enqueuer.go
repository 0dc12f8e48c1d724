// Package enqueuer is what producers import to ask for node removals and to
// read how they went: Enqueue validates a request, hashes its password, stores
// its record and queues its task; Status, List and Cancel read and end them;
// Wait, Events and Follow hear of every change from the event stream
// without polling.
// It owns the request's JSON form (DecodeRequest), which the HTTP API and
// `enqueue --from-file` read, and it names everything a producer branches
// on (statuses, states, errors), so that a producer imports this package
// alone.
package enqueuer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/internal/asynqerr"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// records is what the client needs of the Redis store (*store.Store).
type records interface {
	Create(ctx context.Context, req removal.Request) (*removal.Record, bool, error)
	Discard(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (*removal.Record, error)
	Cancel(ctx context.Context, id string) (*removal.Record, *removal.Change, error)
	List(ctx context.Context, f removal.ListFilter) ([]*removal.Record, error)
	Ask(ctx context.Context, q removal.Question) (*removal.DryRun, error)
}

// pauseSwitch is the pause switch in the store (*store.Store).
type pauseSwitch interface {
	Pause(ctx context.Context, cluster string) error
	Resume(ctx context.Context, cluster string) error
	Paused(ctx context.Context) (map[string]time.Time, error)
}

// Client enqueues removal requests and reads their status.
type Client struct {
	store     records
	pauses    pauseSwitch
	losses    dataLosses
	queue     *asynq.Client
	inspector *asynq.Inspector
	drain     DrainDefaults
	settings  settings
	guard     Guard
	hooks     removal.AllowedHosts
	region    string          // Options.DefaultRegion
	regions   map[string]bool // Options.Regions; empty: any well-formed region
	events    *hub
}

// Options configure a Client.
type Options struct {
	RecordTTL time.Duration    // RECORD_TTL; default 7 days
	Now       func() time.Time // default time.Now
	// Corrupt is told of each record List skips because it is not what
	// noderemover wrote (not JSON); nil ignores them.
	Corrupt func(key string, err error)
	// Drain are the fleet's drain defaults, and whether it reaches
	// Kubernetes at all (Drain.Access, KUBE_ACCESS). The zero value has no
	// access: a request that asks for a drain is invalid, naming KUBE_ACCESS.
	// cmd/noderemover fills it from the environment (DRAIN, DRAIN_TIMEOUT,
	// ...); a producer of its own should give the workers' settings.
	Drain DrainDefaults
	// Guard are the fleet's guardrails (CLUSTER_MAX_DISRUPTING,
	// CLUSTER_MIN_NODES), shown as what is in force where a cluster sets
	// nothing; the zero value is DefaultGuard.
	Guard *Guard
	// WebhookHosts are the hosts a request's callback_url may name
	// (WEBHOOK_ALLOWED_HOSTS); none: a request with a callback is invalid.
	WebhookHosts AllowedHosts
	// EventsMaxLen is about how many events the stream keeps
	// (EVENTS_MAX_LEN); default 100000. Every writer should use the same.
	EventsMaxLen int64
	// DefaultRegion is the region given to a request that names none
	// (CCE_REGION), so that every record names its region; "" leaves such
	// requests to the one endpoint of a fleet with no default region.
	DefaultRegion string
	// Regions are the regions the workers serve (the SDK's CCE regions,
	// those of CCE_ENDPOINTS, and CCE_REGION); a request naming another is
	// invalid, naming region. None: any well-formed region name.
	Regions []string
}

// New returns a client on rdb. Close it when done; rdb stays open.
func New(rdb redis.UniversalClient, o Options) *Client {
	st := store.New(rdb, store.Options{TTL: o.RecordTTL, Now: o.Now, Corrupt: o.Corrupt, EventsMaxLen: o.EventsMaxLen})
	c := &Client{
		store:     st,
		pauses:    st,
		losses:    st,
		queue:     asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		drain:     o.Drain,
		settings:  st,
		guard:     DefaultGuard,
		hooks:     o.WebhookHosts,
		region:    o.DefaultRegion,
		events:    newHub(st),
	}
	if len(o.Regions) > 0 {
		c.regions = make(map[string]bool, len(o.Regions)+1)
		for _, r := range o.Regions {
			c.regions[r] = true
		}
		if o.DefaultRegion != "" {
			c.regions[o.DefaultRegion] = true
		}
	}
	if o.Guard != nil {
		c.guard = *o.Guard
	}
	return c
}

// Close releases the client's queue connections.
func (c *Client) Close() error {
	c.events.close()
	return errors.Join(c.queue.Close(), c.inspector.Close())
}

// Enqueue validates r and queues it. Enqueueing a request id again is
// harmless: the same request is one removal and its status comes back.
// Nothing is stored when r is invalid.
func (c *Client) Enqueue(ctx context.Context, r Request) (Status, error) {
	req, err := c.Prepare(r)
	if err != nil {
		return Status{}, err
	}
	st, _, err := c.EnqueuePrepared(ctx, req)
	return st, err // marked by enqueue
}

// EnqueuePrepared queues a request made by Request.Prepare, for callers that
// validated first. created is false when the request id existed already
// (with the same content): its current status comes back.
func (c *Client) EnqueuePrepared(ctx context.Context, req removal.Request) (st Status, created bool, err error) {
	if err := c.resolveDrain(&req); err != nil {
		return Status{}, false, err
	}
	if err := c.resolveRegion(&req); err != nil {
		return Status{}, false, err
	}
	if err := req.Validate(); err != nil {
		return Status{}, false, err
	}
	if err := c.checkCallback(req); err != nil {
		return Status{}, false, err
	}
	return c.enqueue(ctx, req)
}

// EnqueueAll validates every request first and enqueues none when any is
// invalid (the error names its index). Then it enqueues them in order and
// stops at the first that fails; the statuses of those before it come back.
func (c *Client) EnqueueAll(ctx context.Context, rs []Request) ([]Status, error) {
	reqs := make([]removal.Request, len(rs))
	for i, r := range rs {
		req, err := c.Prepare(r)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i+1, err)
		}
		reqs[i] = req
	}
	out := make([]Status, 0, len(reqs))
	for i, req := range reqs {
		st, _, err := c.enqueue(ctx, req)
		if err != nil {
			return out, fmt.Errorf("request %d: %w", i+1, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func (c *Client) enqueue(ctx context.Context, req removal.Request) (Status, bool, error) {
	rec, created, err := c.store.Create(ctx, req)
	if err != nil {
		return Status{}, false, unavailable(err, leftNothing)
	}
	if !created && rec.State != removal.StateQueued {
		return rec.Status(), false, nil
	}
	task, err := tasks.NewRemoveNodes(tasks.RemoveNodes{
		RequestID: req.ID, ProjectID: req.ProjectID, ClusterID: req.ClusterID, Nodes: req.Nodes,
	})
	if err != nil {
		return Status{}, false, err
	}
	_, err = c.queue.EnqueueContext(ctx, task)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		left := leftNothing
		if created {
			// Undo the record so a retry starts clean. If this fails too,
			// the request stays queued without its task: a worker's sweep
			// gives it one (worker.Config.OrphanAfter), as does enqueueing
			// the same request id again.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if c.store.Discard(dctx, req.ID) != nil {
				left = "the request is stored but its task is not: a worker gives it its task within about " +
					"two minutes, and enqueueing the same request id again does it at once"
			}
		} else if !rec.State.Final() {
			left = "the request was stored before; enqueueing the same request id again is safe"
		}
		return Status{}, false, unavailable(fmt.Errorf("enqueue request %s: %w", req.ID, err), left)
	}
	return rec.Status(), created, nil
}

// Status returns the status of request id, or an error matching ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	if err := removal.ValidRequestID(id); err != nil {
		return Status{}, err
	}
	rec, err := c.store.Get(ctx, id)
	if err != nil {
		return Status{}, unavailable(err, leftNothingRead)
	}
	return rec.Status(), nil
}

// Cancel ends a request that has not reached CCE yet: its record says
// cancelled, its nodes are free and its task is removed. A request CCE
// accepted cannot be cancelled (CCE has no such call): the error matches
// ErrNotCancellable and names the job; the record is unchanged.
func (c *Client) Cancel(ctx context.Context, id string) (Status, error) {
	if err := removal.ValidRequestID(id); err != nil {
		return Status{}, err
	}
	rec, _, err := c.store.Cancel(ctx, id)
	if err != nil {
		return Status{}, unavailable(err, leftNotCancelled)
	}
	// A task still waiting goes; one running right now finds the record
	// cancelled and stops.
	err = c.inspector.DeleteTask(tasks.Queue, tasks.RemoveNodesTaskID(id))
	if err != nil && !asynqerr.NotFound(err) && !asynqerr.Active(err) {
		return rec.Status(), fmt.Errorf("request %s is cancelled, but its task could not be removed (the worker will skip it): %w", id, err)
	}
	if len(rec.Uncordon) > 0 { // it had cordoned nodes: a worker gives them back
		t, err := tasks.NewUncordon(tasks.Uncordon{RequestID: id})
		if err == nil {
			_, err = c.queue.EnqueueContext(ctx, t)
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return rec.Status(), fmt.Errorf("request %s is cancelled, but the task that uncordons its nodes could not be queued: %w", id, err)
		}
	}
	return rec.Status(), nil
}

// List returns the newest requests matching f, newest first. A page ends
// where the next begins: ask again with Before set to the last id of a full
// page for the older ones.
func (c *Client) List(ctx context.Context, f ListFilter) ([]Status, error) {
	if f.State != "" && !removal.ValidState(f.State) {
		return nil, &InvalidError{Field: "state", Problem: fmt.Sprintf("%q is not one of queued, draining, submitting, polling, succeeded, failed, cancelled", f.State)}
	}
	if f.Limit < 0 || f.Limit > removal.MaxListLimit {
		return nil, &InvalidError{Field: "limit", Problem: fmt.Sprintf("%d is not between 1 and %d", f.Limit, removal.MaxListLimit)}
	}
	if f.Before != "" {
		var bad *removal.InvalidError
		if errors.As(removal.ValidRequestID(f.Before), &bad) {
			return nil, &InvalidError{Field: "before", Problem: bad.Problem}
		}
	}
	recs, err := c.store.List(ctx, f)
	if errors.Is(err, removal.ErrInvalid) {
		return nil, err
	}
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	out := make([]Status, len(recs))
	for i, r := range recs {
		out[i] = r.Status()
	}
	return out, nil
}

// resolveDrain settles what req asked of its drain against the fleet's
// defaults, once.
func (c *Client) resolveDrain(req *removal.Request) error {
	if req.Drain != nil || req.DrainAsk == nil && !c.drain.Enabled {
		return nil
	}
	d, err := c.drain.Resolve(req.DrainAsk)
	if err != nil {
		return err
	}
	if d != nil { // resolved; a drain turned off keeps saying so
		req.Drain, req.DrainAsk = d, nil
	}
	return nil
}

// Prepare is Request.Prepare with the request's drain resolved against
// the client's defaults (Options.Drain): everything that can be wrong
// with a request is found before anything is enqueued.
func (c *Client) Prepare(r Request) (Prepared, error) {
	req, err := r.Prepare()
	if err != nil {
		return Prepared{}, err
	}
	if err := c.resolveDrain(&req); err != nil {
		return Prepared{}, err
	}
	if err := c.resolveRegion(&req); err != nil {
		return Prepared{}, err
	}
	if err := c.checkCallback(req); err != nil {
		return Prepared{}, err
	}
	return req, nil
}

// resolveRegion gives a request that names no region the fleet's default,
// and refuses a region no worker serves: it would wait for ever, or fail
// only once a worker took it.
func (c *Client) resolveRegion(req *removal.Request) error {
	if req.Region == "" {
		req.Region = c.region
	}
	if err := removal.ValidRegion(req.Region); err != nil {
		return err
	}
	if req.Region == "" || len(c.regions) == 0 || c.regions[req.Region] {
		return nil // "": no default region, the fleet's one CCE_ENDPOINT
	}
	served := slices.Sorted(maps.Keys(c.regions))
	return &removal.InvalidError{Field: "region", Problem: fmt.Sprintf("%q is not a region this fleet serves (served: %s; more with CCE_ENDPOINTS)", req.Region, strings.Join(served, ", "))}
}

// checkCallback refuses a callback to a host the fleet does not allow: no
// request can make a worker call into the cluster's network.
func (c *Client) checkCallback(req removal.Request) error {
	if req.Callback == nil {
		return nil
	}
	if err := c.hooks.Allow(req.Callback.URL); err != nil {
		return &removal.InvalidError{Field: "callback_url", Problem: err.Error()}
	}
	return nil
}

// newRequestID names a request the producer did not name.
func newRequestID() string { return uuid.NewString() }
