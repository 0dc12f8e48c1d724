package worker

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// redisCheckEvery is how often the worker checks that Redis answers.
const redisCheckEvery = 2 * time.Second

// watchRedis makes a Redis outage a few clear lines in the log: one when
// Redis stops answering, a reminder every logthrottle.Every while it stays away,
// one when it answers again. The worker itself keeps running through it:
// asynq and the handlers take up their work when Redis is back.
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
		pingCtx, cancel := context.WithTimeout(ctx, redisCheckEvery)
		err := w.rdb.Ping(pingCtx).Err()
		cancel()
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && downSince.IsZero():
			downSince, said = now, now
			w.log.Error().Err(err).Msg("Redis does not answer: no task runs until it does; the worker waits and carries on by itself")
		case err != nil && now.Sub(said) >= logthrottle.Every:
			said = now
			w.log.Error().Err(err).Dur("down_for", now.Sub(downSince).Round(time.Second)).Msg("Redis still does not answer")
		case err == nil && !downSince.IsZero():
			w.log.Warn().Dur("down_for", now.Sub(downSince).Round(time.Second)).Msg("Redis answers again: the worker carries on")
			downSince = time.Time{}
		}
	}
}
