package worker

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/store"
)

// markerTimeout bounds the Redis calls of the marker.
const markerTimeout = 5 * time.Second

// ensureMarker makes sure Redis holds a marker and remembers it. A Redis
// without one is a fresh Redis, or one written by a version before the
// marker: neither is a loss. When Redis does not answer, watchRedis tries
// again once it does.
func (w *Server) ensureMarker(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	m, created, err := w.markers.EnsureMarker(ctx)
	if err != nil {
		w.log.Debug().Err(err).Msg("the marker of Redis's data could not be read yet; tried again when Redis answers")
		return
	}
	w.marker = m
	if created {
		w.log.Info().Str("marker", m.ID).Msg("Redis had no marker of its data (a fresh Redis, or one from a version before it): wrote one")
	}
}

// noticeDataLoss is the one place the worker notices that Redis lost its
// data: the marker it saw is gone or changed. It writes a new marker and,
// first of all workers, the loss, which fails every worker's readiness
// until an operator acknowledges it; it logs the loss once, and counts it
// when it was first. An event for the loss belongs here, when First.
func (w *Server) noticeDataLoss(ctx context.Context, downFor time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	n, err := w.markers.NoticeLoss(ctx, *w.marker)
	if err != nil {
		w.log.Error().Err(err).Str("lost_marker", w.marker.ID).
			Msg("Redis no longer holds the marker this worker saw, and the loss of its data could not be recorded; tried again in a moment")
		return
	}
	if n.Intact {
		return
	}
	lost := *w.marker
	w.marker = &n.Marker
	if n.First {
		w.cfg.Metrics.RedisDataLost()
		if n.Loss != nil {
			if err := w.markers.PublishDataLoss(ctx, *n.Loss); err != nil {
				w.log.Warn().Err(err).Msg("the loss of Redis's data could not be published as an event")
			}
		}
	}
	ev := w.log.Error().Str("lost_marker", lost.ID).Time("data_since", lost.Since).Str("marker", n.Marker.ID).Bool("first", n.First)
	if downFor > 0 {
		ev = ev.Dur("down_for", downFor)
	}
	if n.Loss != nil {
		ev = ev.Time("noticed_at", n.Loss.NoticedAt)
	}
	ev.Msg("Redis lost its data (restarted empty, flushed, or failed over to a replica without it): " + dataLostMeans +
		"; readiness fails until an operator acknowledges it (noderemover redis-loss ack, or POST /v1/redis/ack)")
}

// dataLostMeans is what a loss of Redis's data means.
const dataLostMeans = "records, node claims and queued tasks written before may be gone, " +
	"and a node CCE had already accepted may be removed with no record of it"

// dataLostError fails readiness while a loss is not acknowledged.
type dataLostError struct{ loss store.DataLoss }

func (e *dataLostError) Error() string { return e.Reason() }

// Reason is what readiness shows.
func (e *dataLostError) Reason() string {
	return "Redis lost its data, noticed " + e.loss.NoticedAt.Format(time.RFC3339) + ": " + dataLostMeans +
		"; acknowledge with noderemover redis-loss ack"
}
