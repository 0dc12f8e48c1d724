// Package metrics owns noderemover's Prometheus metrics: the product's own,
// prefixed noderemover_, and asynq's queue metrics. Label sets are bounded:
// no request, node or job ids.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics records what the worker does. A nil *Metrics records nothing.
type Metrics struct {
	requests   *prometheus.CounterVec
	nodes      *prometheus.CounterVec
	cceCalls   *prometheus.CounterVec
	cceSeconds *prometheus.HistogramVec
	throttled  *prometheus.CounterVec
	jobPolls   prometheus.Histogram
	phase      *prometheus.HistogramVec
	slots      *prometheus.CounterVec
	returned   *prometheus.CounterVec
	corrupt    prometheus.Counter
	dataLost   prometheus.Counter
	drain      drainMetrics
	hooks      webhookMetrics
}

// Phases of a request whose duration is observed.
const (
	PhaseQueued     = "queued"     // enqueued → taken by a worker
	PhaseSubmitting = "submitting" // taken → CCE accepted the removal
	PhaseJob        = "job"        // accepted → the CCE job ended
)

// Options are what the metrics read on every scrape.
type Options struct {
	// OpenRequests counts requests not final yet (across all workers).
	OpenRequests func(ctx context.Context) (int64, error)
	// OldestOpen, when set, says when the oldest request not final yet was
	// created (ok false: none is open), across all workers.
	OldestOpen func(ctx context.Context) (created time.Time, ok bool, err error)
	// Now is the clock of the oldest open request's age; time.Now if nil.
	Now func() time.Time
	// Inspector, when set, adds asynq's queue metrics.
	Inspector *asynq.Inspector
	// Paused, when set, says what is paused (cluster ids, "*" for all).
	Paused func(ctx context.Context) (map[string]time.Time, error)
	// Regions are the regions whose series of known label values start at
	// 0 (the default region and those of CCE_ENDPOINTS); none: region "".
	// The region label takes only regions the worker serves.
	Regions []string
}

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = 3 * time.Second

// New registers the metrics with reg.
func New(reg prometheus.Registerer, o Options) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_requests_finished_total",
			Help: "Requests that reached a final state, by region and state (succeeded, failed).",
		}, []string{"region", "state"}),
		nodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_nodes_finished_total",
			Help: "Nodes of finished requests, by region and outcome (removed, failed).",
		}, []string{"region", "outcome"}),
		cceCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_cce_requests_total",
			Help: "CCE API calls by region, operation and HTTP status code (0: no answer).",
		}, []string{"region", "operation", "code"}),
		cceSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "noderemover_cce_request_duration_seconds",
			Help:    "Latency of CCE API calls by region and operation.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"region", "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_cce_throttled_total",
			Help: "CCE answers of 429 (throttled, or cluster locked by another operation) by region and operation.",
		}, []string{"region", "operation"}),
		jobPolls: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "noderemover_job_polls",
			Help:    "ShowJob polls a CCE removal job took until its end was seen.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 34, 55, 89},
		}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "noderemover_phase_duration_seconds",
			Help:    "Time requests spend in each phase: queued, submitting, job (the CCE job).",
			Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800},
		}, []string{"phase"}),
		slots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_cce_rate_slots_total",
			Help: "Call slots the shared CCE rate limit gave this worker, by kind (write: RemoveNode; read: ShowJob, ShowNode).",
		}, []string{"kind"}),
		returned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_cce_rate_slots_returned_total",
			Help: "Call slots given back unused (what they were taken for went elsewhere), by kind; taken less returned is the calls made.",
		}, []string{"kind"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "noderemover_records_corrupt_total",
			Help: "Times a record that is not what noderemover wrote (not JSON) was skipped; the worker logs each key once.",
		}),
		dataLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "noderemover_redis_data_lost_total",
			Help: "Times this worker was the first to notice that Redis lost its data (its marker gone or changed: restarted empty, flushed, failed over to a replica without it); summed over workers, the losses.",
		}),
		drain: newDrainMetrics(),
		hooks: newWebhookMetrics(),
	}
	m.zeroes(o.Regions)
	reg.MustRegister(m.requests, m.nodes, m.cceCalls, m.cceSeconds, m.throttled, m.jobPolls, m.phase, m.slots, m.returned, m.corrupt, m.dataLost)
	reg.MustRegister(m.drain.collectors()...)
	reg.MustRegister(m.hooks.collectors()...)
	if o.OpenRequests != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "noderemover_requests_in_flight",
			Help: "Requests not final yet, across all workers (the same from every worker; aggregate with max).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
			defer cancel()
			n, err := o.OpenRequests(ctx)
			if err != nil {
				return -1 // Redis unreachable: an impossible value, not a stale one
			}
			return float64(n)
		}))
	}
	if o.OldestOpen != nil {
		now := o.Now
		if now == nil {
			now = time.Now
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "noderemover_oldest_open_request_age_seconds",
			Help: "Age of the oldest request not final yet, across all workers (0: none open; -1: Redis does not answer; the same from every worker, aggregate with max).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
			defer cancel()
			created, ok, err := o.OldestOpen(ctx)
			switch {
			case err != nil:
				return -1
			case !ok:
				return 0
			}
			return max(now().Sub(created).Seconds(), 0)
		}))
	}
	if o.Paused != nil {
		count := func(all bool) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
				defer cancel()
				p, err := o.Paused(ctx)
				if err != nil {
					return -1
				}
				_, every := p["*"]
				switch {
				case all && every:
					return 1
				case all:
					return 0
				case every:
					return float64(len(p) - 1)
				}
				return float64(len(p))
			}
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "noderemover_paused_all",
			Help: "1 while every cluster is paused (noderemover pause), else 0; -1 when Redis does not answer.",
		}, count(true)), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "noderemover_paused_clusters",
			Help: "Clusters paused one by one (noderemover pause --cluster-id); -1 when Redis does not answer.",
		}, count(false)))
	}
	if o.Inspector != nil {
		reg.MustRegister(asynqmetrics.NewQueueMetricsCollector(o.Inspector))
	}
	return m
}

// Label values known in advance; each series is made at 0 when the metrics
// are registered, so rate() and alerts work from the first scrape.
var (
	finishedStates  = []string{"succeeded", "failed"}
	nodeOutcomes    = []string{"removed", "failed"}
	cceOperations   = []string{"RemoveNodes", "ShowJob", "ShowNode", "ShowCluster", "ListNodes", "ClusterCert"}
	rateSlotKinds   = []string{"write", "read"}
	drainOutcomes   = []string{DrainDrained, DrainTimedOut, DrainFailed}
	evictionResults = []string{"evicted", "refused"}
)

// zeroes makes every series whose label values are known at 0. CCE and
// Kubernetes status codes are not known in advance and are left out.
func (m *Metrics) zeroes(regions []string) {
	if len(regions) == 0 {
		regions = []string{""}
	}
	for _, r := range regions {
		for _, v := range finishedStates {
			m.requests.WithLabelValues(r, v)
		}
		for _, v := range nodeOutcomes {
			m.nodes.WithLabelValues(r, v)
		}
		for _, v := range cceOperations {
			m.throttled.WithLabelValues(r, v)
		}
	}
	for _, v := range rateSlotKinds {
		m.slots.WithLabelValues(v)
		m.returned.WithLabelValues(v)
	}
	for _, v := range evictionResults {
		m.drain.evictions.WithLabelValues(v)
	}
	for _, v := range drainOutcomes {
		m.drain.seconds.WithLabelValues(v)
	}
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// CCECall records one CCE call to region; status 0 means no answer came.
func (m *Metrics) CCECall(region, op string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.cceCalls.WithLabelValues(region, op, strconv.Itoa(status)).Inc()
	m.cceSeconds.WithLabelValues(region, op).Observe(d.Seconds())
	if status == 429 {
		m.throttled.WithLabelValues(region, op).Inc()
	}
}

// CCECalls is what the CCE client of region is told of each call
// (cce.Config.Observe): CCECall with the region.
func (m *Metrics) CCECalls(region string) func(op string, status int, d time.Duration) {
	return func(op string, status int, d time.Duration) { m.CCECall(region, op, status, d) }
}

// RequestFinished records a request of region that reached a final state,
// with how many of its nodes were removed and how many failed.
func (m *Metrics) RequestFinished(region, state string, removed, failed int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(region, state).Inc()
	m.nodes.WithLabelValues(region, "removed").Add(float64(removed))
	m.nodes.WithLabelValues(region, "failed").Add(float64(failed))
}

// Phase records how long a request spent in a phase.
func (m *Metrics) Phase(phase string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	m.phase.WithLabelValues(phase).Observe(d.Seconds())
}

// JobPolls records the polls one CCE job took.
func (m *Metrics) JobPolls(n int) {
	if m == nil {
		return
	}
	m.jobPolls.Observe(float64(n))
}

// RateSlot records one call slot the shared rate limit gave, of kind write
// or read.
func (m *Metrics) RateSlot(kind string) {
	if m == nil {
		return
	}
	m.slots.WithLabelValues(kind).Inc()
}

// RateSlotReturned records one call slot given back unused.
func (m *Metrics) RateSlotReturned(kind string) {
	if m == nil {
		return
	}
	m.returned.WithLabelValues(kind).Inc()
}

// CorruptRecord records one corrupt record that was skipped.
func (m *Metrics) CorruptRecord() {
	if m == nil {
		return
	}
	m.corrupt.Inc()
}

// RedisDataLost records a loss of Redis's data this worker noticed first.
func (m *Metrics) RedisDataLost() {
	if m == nil {
		return
	}
	m.dataLost.Inc()
}
