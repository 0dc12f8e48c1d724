package worker

import (
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// repeatEvery is how often a repeated warning or error of one kind is
// logged; while Redis is down asynq's loops would each log theirs every few
// seconds.
const repeatEvery = 30 * time.Second

// asynqLogger sends asynq's own log lines to zerolog, each kind of warning
// or error at most once per repeatEvery.
type asynqLogger struct {
	log      zerolog.Logger
	throttle *logthrottle.Throttle
}

func newAsynqLogger(l zerolog.Logger) *asynqLogger {
	return &asynqLogger{log: l.With().Str("component", "asynq").Logger(), throttle: logthrottle.New(repeatEvery, nil)}
}

func (l *asynqLogger) Debug(args ...any) { l.log.Debug().Msg(fmt.Sprint(args...)) }
func (l *asynqLogger) Info(args ...any)  { l.log.Info().Msg(fmt.Sprint(args...)) }
func (l *asynqLogger) Warn(args ...any)  { l.throttled(zerolog.WarnLevel, fmt.Sprint(args...)) }
func (l *asynqLogger) Error(args ...any) { l.throttled(zerolog.ErrorLevel, fmt.Sprint(args...)) }

// Fatal is what asynq calls when it cannot go on; the contract is to exit.
func (l *asynqLogger) Fatal(args ...any) {
	l.log.Error().Msg(fmt.Sprint(args...))
	os.Exit(1)
}

func (l *asynqLogger) throttled(level zerolog.Level, msg string) {
	ok, held := l.throttle.Allow(logthrottle.Kind(msg))
	if !ok {
		return
	}
	ev := l.log.WithLevel(level)
	if held > 0 {
		ev = ev.Int("repeated", held)
	}
	ev.Msg(msg)
}
