package worker

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
)

// asynqLogger sends asynq's own log lines to zerolog.
type asynqLogger struct{ log zerolog.Logger }

func newAsynqLogger(l zerolog.Logger) *asynqLogger {
	return &asynqLogger{log: l.With().Str("component", "asynq").Logger()}
}

func (l *asynqLogger) Debug(args ...any) { l.log.Debug().Msg(fmt.Sprint(args...)) }
func (l *asynqLogger) Info(args ...any)  { l.log.Info().Msg(fmt.Sprint(args...)) }
func (l *asynqLogger) Warn(args ...any)  { l.log.Warn().Msg(fmt.Sprint(args...)) }
func (l *asynqLogger) Error(args ...any) { l.log.Error().Msg(fmt.Sprint(args...)) }

// Fatal is what asynq calls when it cannot go on; the contract is to exit.
func (l *asynqLogger) Fatal(args ...any) {
	l.log.Error().Msg(fmt.Sprint(args...))
	os.Exit(1)
}
