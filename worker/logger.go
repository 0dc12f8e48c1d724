package worker

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// asynqLogger sends asynq's own log lines to zerolog, each kind of warning
// or error at most once per logthrottle.Every.
type asynqLogger struct {
	log      zerolog.Logger
	throttle *logthrottle.Throttle
}

func newAsynqLogger(l zerolog.Logger) *asynqLogger {
	return &asynqLogger{log: l.With().Str("component", "asynq").Logger(), throttle: logthrottle.New(logthrottle.Every, nil)}
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

// throttled logs msg unless a line of its kind was logged less than
// logthrottle.Every ago: while Redis is down asynq's loops would each log
// theirs every few seconds.
func (l *asynqLogger) throttled(level zerolog.Level, msg string) {
	l.throttle.Log(l.log, level, logthrottle.Kind(msg), msg)
}
