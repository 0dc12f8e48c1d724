package worker

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// redisCheckEvery is how often the worker checks that Redis answers and
// still holds its marker.
const redisCheckEvery = 2 * time.Second

// watchRedis makes a Redis outage a few clear lines in the log: one when
// Redis stops answering, a reminder every logthrottle.Every while it stays away,
// one when it answers again. The worker itself keeps running through it:
// asynq and the handlers take up their work when Redis is back.
//
// Its check is one GET of the marker, which tells both whether Redis
// answers and whether it still holds what it held: a marker gone or
// changed, after an outage or without one, is a loss of data
// (noticeDataLoss), never "Redis answers again".
func (w *Server) watchRedis(ctx context.Context) {
	tick := time.NewTicker(redisCheckEvery)
	defer tick.Stop()
	var downSince, said time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		getCtx, cancel := context.WithTimeout(ctx, redisCheckEvery)
		m, err := w.markers.Marker(getCtx)
		cancel()
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && downSince.IsZero():
			downSince, said = now, now
			w.log.Error().Err(err).Msg("Redis does not answer: no task runs until it does; the worker waits and carries on by itself")
			continue
		case err != nil && now.Sub(said) >= logthrottle.Every:
			said = now
			w.log.Error().Err(err).Dur("down_for", now.Sub(downSince).Round(time.Second)).Msg("Redis still does not answer")
			continue
		case err != nil:
			continue
		}
		var downFor time.Duration
		if !downSince.IsZero() {
			downFor = now.Sub(downSince).Round(time.Second)
			downSince = time.Time{}
		}
		switch {
		case w.marker == nil:
			// Not seen one yet (Redis did not answer when the worker started).
			w.ensureMarker(ctx)
		case m == nil || m.ID != w.marker.ID:
			w.noticeDataLoss(ctx, downFor)
			continue
		}
		if downFor > 0 {
			w.log.Warn().Dur("down_for", downFor).Msg("Redis answers again, with its data: the worker carries on")
		}
	}
}
