// Package worker runs the asynq server that carries removal requests to CCE:
// the handlers of the two task kinds, which walk a request and its batch
// through the lifecycle table of package removal (remove_nodes.go has the
// whole walk); the CCE calls and what each answer means; the
// reconciliation of calls whose outcome is unknown; the polling schedule of
// CCE jobs; the cluster leases and wake-ups; the retry policy; and what
// keeps a worker going through a Redis outage (a quiet log, and a sweep
// that gives requests cut off mid-enqueue their task). State lives in
// internal/store and the shared rate limits in internal/ratelimit, both
// reached through the small interfaces in deps.go.
package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/webhook"
)

// CCE is what the worker needs of CCE; *cce.Client has it.
type CCE interface {
	RemoveNodes(ctx context.Context, projectID, clusterID string, login cce.Login, nodeUIDs []string) (string, error)
	ShowJob(ctx context.Context, projectID, jobID string) (*cce.Job, error)
	ShowNode(ctx context.Context, projectID, clusterID, nodeUID string) (*cce.Node, error)
	ShowCluster(ctx context.Context, projectID, clusterID string) (*cce.Cluster, error)
	ListNodes(ctx context.Context, projectID, clusterID string) ([]cce.Node, error)
}

// Config tunes a worker. Zero values take the defaults in brackets.
type Config struct {
	Concurrency       int                             // tasks at once [10]
	RetryBackoffMin   time.Duration                   // [2s]
	RetryBackoffMax   time.Duration                   // [2m]
	SubmitMaxAttempts int                             // failed RemoveNode calls per request before it fails [8]
	BatchWindow       time.Duration                   // how long a cluster's oldest waiting request waits for others; 0: no merging
	WriteRate         float64                         // RemoveNode calls per second of each region and project, all workers together; 0: unlimited
	ReadRate          float64                         // CCE reads per second of each region and project, all workers together; 0: unlimited
	PollIntervalMin   time.Duration                   // [10s]
	PollIntervalMax   time.Duration                   // [20s]
	PollFirstDelay    time.Duration                   // [3 × PollIntervalMin]
	PollTimeout       time.Duration                   // [30m]
	CCETimeout        time.Duration                   // limit of one CCE call [30s]
	RecordTTL         time.Duration                   // [7 days]
	ShutdownTimeout   time.Duration                   // [25s]
	OrphanAfter       time.Duration                   // a queued request with no task this long gets its task again [1m]
	Region            string                          // the default region (CCE_REGION): the one New's api serves, as do records of region ""
	CCEFor            func(region string) (CCE, bool) // the CCE client of another region, asked once per region; nil or false: not served
	Kube              KubeAccess                      // Kubernetes access for drains (KUBE_ACCESS); nil: none
	DrainInterval     time.Duration                   // between passes over a draining node's Pods, at first [5s]
	DrainIntervalMax  time.Duration                   // ... once a drain has been blocked for long [30s]
	GuardRecheck      time.Duration                   // how often a request a guardrail holds (pause, window, budget, cluster phase) looks again [5s]
	Guard             *removal.Guard                  // the fleet's guardrails (CLUSTER_MAX_DISRUPTING, CLUSTER_MIN_NODES); nil: no budget, no minimum
	WebhookKey        webhook.Key                     // signs callbacks (WEBHOOK_SECRET); nil: deliveries fail and are retried
	WebhookHosts      removal.AllowedHosts            // hosts callbacks may go to (WEBHOOK_ALLOWED_HOSTS), checked again at delivery
	WebhookMaxAge     time.Duration                   // a callback is tried until its event is this old [24h]
	WebhookTimeout    time.Duration                   // one POST to a callback [10s]
	EventsMaxLen      int64                           // about how many events the stream keeps [100000]
	CredentialsGrace  time.Duration                   // how long CCE may refuse the worker's credentials before requests fail [1h]
	Logger            zerolog.Logger
	Metrics           *metrics.Metrics // nil: none
	Now               func() time.Time // [time.Now]
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if c.SubmitMaxAttempts <= 0 {
		c.SubmitMaxAttempts = 8
	}
	def(&c.RetryBackoffMin, 2*time.Second)
	def(&c.RetryBackoffMax, 2*time.Minute)
	def(&c.PollIntervalMin, 10*time.Second)
	def(&c.PollIntervalMax, 20*time.Second)
	def(&c.PollFirstDelay, 3*c.PollIntervalMin)
	def(&c.PollTimeout, 30*time.Minute)
	def(&c.CCETimeout, 30*time.Second)
	def(&c.ShutdownTimeout, 25*time.Second)
	def(&c.OrphanAfter, time.Minute)
	def(&c.DrainInterval, 5*time.Second)
	def(&c.DrainIntervalMax, max(30*time.Second, c.DrainInterval))
	def(&c.GuardRecheck, 5*time.Second)
	def(&c.WebhookMaxAge, 24*time.Hour)
	def(&c.WebhookTimeout, 10*time.Second)
	def(&c.CredentialsGrace, time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// PoolSize is how many Redis connections a worker of the given concurrency
// needs: one for each running handler (no handler holds one while it waits
// for another, or for anything else), one more each for the wake-ups and
// sweeps that may run beside them, one for the dry-run listener and one
// for each dry run it answers at once, one for the webhook relay, and room for asynq's own loops (fetch,
// heartbeat, forwarding, recovery, its subscriber) and the metrics scrape.
// go-redis sizes its pool by GOMAXPROCS instead (10 per CPU), which a
// concurrency above that starves.
func PoolSize(concurrency int) int { return 2*max(concurrency, 1) + 32 + 1 + dryRunsAtOnce + 1 }

// Server is one worker process's asynq server and its handlers.
type Server struct {
	cfg        Config
	log        zerolog.Logger
	cce        CCE
	rdb        redis.UniversalClient
	records    records
	batches    batches
	leases     leases
	history    jobHistory
	pauses     pauses
	guards     guards
	dryRuns    dryRuns
	hooks      hookStore
	hookClient *http.Client
	views      views
	markers    markers
	// marker is the marker this worker saw in Redis, nil until it has
	// seen one; Start sets it, then only watchRedis uses it.
	marker    *store.Marker
	queue     *asynq.Client
	srv       *asynq.Server
	inspector *asynq.Inspector
	regions   regions // each region's CCE client, each region and project's rate limits
	backoff   Backoff
	running   atomic.Bool
	jobTimes  jobTimes
	stopLoops context.CancelFunc // ends watchRedis and sweepOrphansEvery
	loops     sync.WaitGroup
	kicks     sync.WaitGroup // kicks waiting for a running task to go back to waiting
	creds     credentials
	// orphanCursor is where the next sweep for requests without a task
	// starts; only sweepOrphansEvery uses it.
	orphanCursor time.Time
}

// New builds a worker on rdb (left open by Shutdown) that talks to api for
// cfg.Region (and requests of no region), and to cfg.CCEFor's clients for
// the other regions it serves (regions.go). Give
// rdb a pool of at least PoolSize(cfg.Concurrency) connections.
func New(rdb redis.UniversalClient, api CCE, cfg Config) *Server {
	cfg.defaults()
	corrupt := store.NewCorruptLog(cfg.Logger)
	st := store.New(rdb, store.Options{TTL: cfg.RecordTTL, Now: cfg.Now, EventsMaxLen: cfg.EventsMaxLen, Corrupt: func(key string, err error) {
		corrupt.Report(key, err)
		cfg.Metrics.CorruptRecord()
	}})
	w := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		cce:        api,
		rdb:        rdb,
		records:    st,
		batches:    st,
		leases:     st,
		history:    st,
		pauses:     st,
		guards:     st,
		dryRuns:    st,
		hooks:      st,
		markers:    st,
		hookClient: newHookClient(cfg.WebhookTimeout),
		queue:      asynq.NewClientFromRedisClient(rdb),
		inspector:  asynq.NewInspectorFromRedisClient(rdb),
		backoff:    Backoff{Min: cfg.RetryBackoffMin, Max: cfg.RetryBackoffMax},
	}
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:    cfg.Concurrency,
		Queues:         map[string]int{tasks.Queue: 1},
		RetryDelayFunc: w.backoff.retryDelay,
		IsFailure:      isFailure,
		ErrorHandler:   asynq.ErrorHandlerFunc(w.logTaskError),
		Logger:         newAsynqLogger(cfg.Logger),
		LogLevel:       asynq.InfoLevel,
		// Polls are scheduled tasks: look for due ones often enough that a
		// finished job is noticed within about one minimum poll interval.
		DelayedTaskCheckInterval: clamp(cfg.PollIntervalMin/2, 50*time.Millisecond, 5*time.Second),
		TaskCheckInterval:        clamp(cfg.PollIntervalMin/2, 50*time.Millisecond, time.Second),
		ShutdownTimeout:          cfg.ShutdownTimeout,
	})
	w.cce = watchedCCE{CCE: api, w: w}
	return w
}

// Handler routes task kinds to their handlers.
func (w *Server) Handler() asynq.Handler {
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeRemoveNodes, showWaits(w.handleRemoveNodes))
	mux.HandleFunc(tasks.TypePollJob, showWaits(w.handlePollJob))
	mux.HandleFunc(tasks.TypeUncordon, showWaits(w.handleUncordon))
	mux.HandleFunc(tasks.TypeWebhook, showWaits(w.handleWebhook))
	return mux
}

// Start begins processing in the background.
func (w *Server) Start() error {
	if err := w.srv.Start(w.Handler()); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	w.running.Store(true)
	w.ensureMarker(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	w.stopLoops = cancel
	w.loops.Go(func() { w.watchRedis(ctx) })
	w.loops.Go(func() { w.sweepOrphansEvery(ctx) })
	w.loops.Go(func() { w.answerDryRuns(ctx) })
	// The webhooks group exists once Start returns (the relay makes it
	// again if Redis was away).
	jctx, jcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = w.hooks.JoinHooks(jctx)
	jcancel()
	w.loops.Go(func() { w.relayHooks(ctx) })
	return nil
}

// Shutdown stops taking tasks, waits up to ShutdownTimeout for running
// handlers, and puts back the tasks of those it had to cut off.
func (w *Server) Shutdown() {
	w.running.Store(false)
	if w.stopLoops != nil {
		w.stopLoops()
		w.loops.Wait()
	}
	w.srv.Shutdown()
	w.kicks.Wait() // handlers have ended: no new kick starts
	_ = w.queue.Close()
	_ = w.inspector.Close()
}

// Ready reports whether the worker processes tasks, its Redis answers, and
// no loss of Redis's data waits for an operator's acknowledgement (noticed
// by this worker or another: the loss is kept in Redis).
func (w *Server) Ready(ctx context.Context) error {
	if !w.running.Load() {
		return errors.New("the asynq server is not running")
	}
	if err := w.srv.Ping(); err != nil {
		return err
	}
	if err := w.credentialsProblem(); err != nil {
		return err
	}
	loss, err := w.markers.DataLoss(ctx)
	if err != nil {
		return err
	}
	if loss != nil {
		return &dataLostError{loss: *loss}
	}
	return nil
}

// Run processes tasks until ctx ends, then shuts down gracefully.
func (w *Server) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.Shutdown()
	return nil
}

func (w *Server) now() time.Time { return w.cfg.Now().UTC() }

// logTaskError logs what a handler returned: waits quietly, failures loudly.
func (w *Server) logTaskError(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	ev := w.log.Warn()
	var wait *waitError
	var outcome *outcomeError
	switch {
	case errors.As(err, &wait):
		ev = w.log.Debug()
	case errors.As(err, &outcome):
		ev = w.log.Warn() // the request's own log line said it already
	case errors.Is(err, asynq.SkipRetry) || retried >= maxRetry:
		ev = w.log.Error()
	}
	ev.Str("task", t.Type()).Int("retried", retried).Int("max_retry", maxRetry).Err(err).Msg("task returned an error")
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}
