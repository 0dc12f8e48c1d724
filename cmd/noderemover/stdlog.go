package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// newStdLogger sends net/http's own error lines to zerolog.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(zerologWriter{l, "http"}, "", 0)
}

// routeStdLog sends what libraries print with the standard log package
// (asynq's queue metrics collector, when Redis is away) to l as JSON
// warnings, so a service writes nothing but JSON lines to stderr.
func routeStdLog(l zerolog.Logger) {
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(zerologWriter{l, "stdlog"})
}

type zerologWriter struct {
	l         zerolog.Logger
	component string
}

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", w.component).Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// services are the subcommands that run until stopped; the others are
// one-shot commands.
var services = map[string]bool{"worker": true, "api": true, "dashboard": true, "demo": true}

// setRedisLogger routes go-redis's own log lines (a pool that cannot dial,
// say): a service logs them as JSON warnings, each kind once per
// logthrottle.Every, as its own logger would; a one-shot command drops them, since
// the same error reaches its user as the command's one-line answer. Called
// once, from main, before anything uses Redis.
func setRedisLogger(args []string) {
	if len(args) == 0 || !services[args[0]] {
		redis.SetLogger(redisLogger{})
		return
	}
	l := zerolog.New(os.Stderr).With().Timestamp().Str("component", "redis").Logger()
	redis.SetLogger(redisLogger{log: &l, throttle: logthrottle.New(logthrottle.Every, nil)})
}

type redisLogger struct {
	log      *zerolog.Logger // nil: drop every line
	throttle *logthrottle.Throttle
}

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l.log == nil {
		return
	}
	// The format is the kind; the values vary. (A held-back line still
	// costs its Sprintf; go-redis logs only on pool failures.)
	l.throttle.Log(*l.log, zerolog.WarnLevel, format, fmt.Sprintf(format, v...))
}
