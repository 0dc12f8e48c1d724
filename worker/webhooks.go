package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/tasks"
)

// Webhooks, in two steps. The relay (one loop per worker) reads the stream
// of events marked for a callback ({noderemover}:hooks, appended with the
// event) in the "webhooks" consumer group and turns each into a delivery task (id webhook:<event id>), acking the event
// only once the task is queued: a worker that dies in between leaves the
// event pending, and another claims it after hookIdle. The delivery task
// POSTs the event, signed, and is retried with backoff until it is answered
// 2xx or WEBHOOK_MAX_AGE has passed since the event. At least once: a
// receiver drops repeats by webhook-id (the event id).

// hookStore is the stream's webhooks consumer group (*store.Store).
type hookStore interface {
	JoinHooks(ctx context.Context) error
	NextHooks(ctx context.Context, consumer string, block time.Duration, count int64) ([]store.Event, error)
	StaleHooks(ctx context.Context, consumer string, idle time.Duration, count int64) ([]store.Event, error)
	AckHooks(ctx context.Context, evs ...store.Event) error
}

const (
	hookBlock    = time.Second      // one read of the group waits this long for news
	hookIdle     = time.Minute      // an event handed to a reader that did not ack it in this long is claimed
	hookClaimGap = 30 * time.Second // how often a relay looks for such events
)

// relayHooks hands events marked for a callback to delivery tasks until
// ctx ends.
func (w *Server) relayHooks(ctx context.Context) {
	host, _ := os.Hostname()
	consumer := host + "-" + uuid.NewString()[:8]
	var claimed time.Time
	for ctx.Err() == nil {
		if err := w.hooks.JoinHooks(ctx); err != nil {
			w.pause(ctx, time.Second) // Redis away: watchRedis says so
			continue
		}
		break
	}
	for ctx.Err() == nil {
		var evs []store.Event
		var err error
		if now := w.now(); now.Sub(claimed) >= hookClaimGap {
			claimed = now
			evs, err = w.hooks.StaleHooks(ctx, consumer, hookIdle, 100)
		} else {
			evs, err = w.hooks.NextHooks(ctx, consumer, hookBlock, 100)
		}
		if err == nil {
			err = w.queueHooks(ctx, evs)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Debug().Err(err).Msg("handing events to webhook deliveries")
			w.pause(ctx, time.Second)
		}
	}
}

// queueHooks queues the delivery of each event and acks those queued.
func (w *Server) queueHooks(ctx context.Context, evs []store.Event) error {
	var done []store.Event
	var failed error
	for _, e := range evs {
		body, err := json.Marshal(e.CloudEvent)
		if err == nil {
			var t *asynq.Task
			t, err = tasks.NewWebhook(tasks.Webhook{EventID: e.ID, RequestID: e.Subject, URL: e.Hook, Time: e.Time, Body: body})
			if err == nil {
				_, err = w.queue.EnqueueContext(ctx, t)
			}
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			failed = err // left pending: claimed again after hookIdle
			continue
		}
		done = append(done, e)
	}
	return errors.Join(failed, w.hooks.AckHooks(ctx, done...))
}

// pause waits d or until ctx ends.
func (w *Server) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handleWebhook POSTs one event to its callback.
func (w *Server) handleWebhook(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeWebhook(t.Payload())
	if err != nil {
		return err
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return giveUp("webhook for event %s: its URL does not parse", p.EventID)
	}
	age := w.now().Sub(p.Time)
	log := w.log.With().Str("request_id", p.RequestID).Str("event_id", p.EventID).Str("host", u.Host).Logger()
	if age > w.cfg.WebhookMaxAge {
		w.cfg.Metrics.Webhook(metrics.WebhookExpired, age)
		log.Error().Dur("age", age).Msg("webhook given up: not delivered within WEBHOOK_MAX_AGE")
		return giveUp("webhook for event %s of request %s: not delivered within WEBHOOK_MAX_AGE (%s)", p.EventID, p.RequestID, w.cfg.WebhookMaxAge)
	}
	if err := w.cfg.WebhookHosts.Allow(p.URL); err != nil {
		w.cfg.Metrics.Webhook(metrics.WebhookExpired, age)
		log.Error().Err(err).Msg("webhook given up: its host is not allowed")
		return giveUp("webhook for event %s of request %s: %v", p.EventID, p.RequestID, err)
	}
	if len(w.cfg.WebhookKey) == 0 {
		w.cfg.Metrics.Webhook(metrics.WebhookFailed, age)
		return fmt.Errorf("webhook for event %s: this worker has no WEBHOOK_SECRET to sign it with", p.EventID)
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return giveUp("webhook for event %s: %v", p.EventID, err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set("User-Agent", "noderemover-webhook")
	w.cfg.WebhookKey.Sign(req.Header, p.EventID, w.now(), p.Body)
	resp, err := w.hookClient.Do(req)
	if err != nil {
		w.cfg.Metrics.Webhook(metrics.WebhookFailed, age)
		return fmt.Errorf("webhook for event %s to %s: %w", p.EventID, u.Host, scrubURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.cfg.Metrics.Webhook(metrics.WebhookFailed, age)
		return fmt.Errorf("webhook for event %s to %s answered %s", p.EventID, u.Host, resp.Status)
	}
	w.cfg.Metrics.Webhook(metrics.WebhookDelivered, age)
	log.Info().Dur("age", age).Msg("webhook delivered")
	return nil
}

// scrubURL keeps a callback URL's path and query (which may hold a token of
// the receiver's) out of an error that is logged and kept by asynq.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// newHookClient is the HTTP client of deliveries: bounded, and it follows
// no redirect (a receiver cannot send a worker to another host).
func newHookClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
