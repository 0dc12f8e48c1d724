package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one webhook delivery attempt.
const (
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // no answer, or not 2xx: tried again with backoff
	WebhookExpired   = "expired"   // given up: older than WEBHOOK_MAX_AGE, or its host no longer allowed
)

type webhookMetrics struct {
	attempts    *prometheus.CounterVec
	delay       prometheus.Histogram
	credentials *prometheus.CounterVec
}

func newWebhookMetrics() webhookMetrics {
	w := webhookMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "noderemover_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome (delivered; failed: tried again; expired: given up).",
		}, []string{"outcome"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "noderemover_webhook_delivery_delay_seconds",
			Help:    "Time from an event to its delivery to the callback (2xx).",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21600, 86400},
		}),
	}
	w.credentials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "noderemover_cce_credentials_refused_total",
		Help: "CCE calls that refused the worker's own credentials (401, a 403 forbidding the caller, no token from IAM), by operation.",
	}, []string{"operation"})
	for _, op := range []string{"RemoveNodes", "ShowJob", "ShowNode", "ShowCluster", "ListNodes"} {
		w.credentials.WithLabelValues(op)
	}
	for _, o := range []string{WebhookDelivered, WebhookFailed, WebhookExpired} {
		w.attempts.WithLabelValues(o) // present at 0 from the start
	}
	return w
}

func (w webhookMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{w.attempts, w.delay, w.credentials}
}

// Webhook records one delivery attempt; delay is the event's age when it
// was delivered.
func (m *Metrics) Webhook(outcome string, delay time.Duration) {
	if m == nil {
		return
	}
	m.hooks.attempts.WithLabelValues(outcome).Inc()
	if outcome == WebhookDelivered {
		m.hooks.delay.Observe(delay.Seconds())
	}
}

// CredentialsRefused records a CCE call that refused the worker's own
// credentials, by operation.
func (m *Metrics) CredentialsRefused(op string) {
	if m == nil {
		return
	}
	m.hooks.credentials.WithLabelValues(op).Inc()
}
