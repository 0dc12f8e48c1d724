package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// drainMetrics are the drain's: how long nodes took, what evictions met,
// how often a PodDisruptionBudget held a node back, and the Kubernetes API
// calls a drain made.
type drainMetrics struct {
	seconds   *prometheus.HistogramVec
	evictions *prometheus.CounterVec
	pdb       prometheus.Counter
	calls     *prometheus.CounterVec
}

// Drain outcomes of a node, as drain durations are labelled.
const (
	DrainDrained  = "drained"   // every Pod that had to go went
	DrainTimedOut = "timed_out" // handed to CCE with Pods left (on_timeout remove)
	DrainFailed   = "failed"    // given up: timed out (on_timeout fail), not found, protected
)

func newDrainMetrics() drainMetrics {
	return drainMetrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "noderemover_drain_duration_seconds",
			Help:    "Time from a node's cordon to the end of its drain, by outcome (drained, timed_out, failed).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"outcome"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_drain_evictions_total",
			Help: "Pod evictions asked of Kubernetes, by result (evicted; refused: a PodDisruptionBudget or another refusal).",
		}, []string{"result"}),
		pdb: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "noderemover_drain_pdb_blocked_total",
			Help: "Drain passes in which a PodDisruptionBudget held a node's Pods back (one per node and pass).",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_kube_requests_total",
			Help: "Kubernetes API calls the worker made (finding Nodes, cordons, Pod lists, evictions, Events, uncordons), by HTTP status code (0: no answer).",
		}, []string{"code"}),
	}
}

func (d drainMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{d.seconds, d.evictions, d.pdb, d.calls}
}

// KubeRequest records one Kubernetes API call and its HTTP status (0: no
// answer).
func (m *Metrics) KubeRequest(code int) {
	if m == nil {
		return
	}
	m.drain.calls.WithLabelValues(strconv.Itoa(code)).Inc()
}

// DrainPass records one pass over a node's Pods.
func (m *Metrics) DrainPass(evicted, refused int, pdbBlocked bool) {
	if m == nil {
		return
	}
	m.drain.evictions.WithLabelValues("evicted").Add(float64(evicted))
	m.drain.evictions.WithLabelValues("refused").Add(float64(refused))
	if pdbBlocked {
		m.drain.pdb.Inc()
	}
}

// DrainEnded records how long a node's drain took and how it ended.
func (m *Metrics) DrainEnded(outcome string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	m.drain.seconds.WithLabelValues(outcome).Observe(d.Seconds())
}
