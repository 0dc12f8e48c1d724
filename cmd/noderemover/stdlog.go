package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/logthrottle"
)

// newStdLogger sends net/http's own error lines to zerolog.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(zerologWriter{l}, "", 0)
}

type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// services are the subcommands that run until stopped; the others are
// one-shot commands.
var services = map[string]bool{"worker": true, "api": true, "dashboard": true, "demo": true}

// setRedisLogger routes go-redis's own log lines (a pool that cannot dial,
// say): a service logs them as JSON warnings, each kind once per
// repeatEvery, as its own logger would; a one-shot command drops them, since
// the same error reaches its user as the command's one-line answer. Called
// once, from main, before anything uses Redis.
func setRedisLogger(args []string) {
	if len(args) == 0 || !services[args[0]] {
		redis.SetLogger(redisLogger{})
		return
	}
	l := zerolog.New(os.Stderr).With().Timestamp().Str("component", "redis").Logger()
	redis.SetLogger(redisLogger{log: &l, throttle: logthrottle.New(repeatEvery, nil)})
}

// repeatEvery is how often a repeated go-redis line of one kind is logged.
const repeatEvery = 30 * time.Second

type redisLogger struct {
	log      *zerolog.Logger // nil: drop every line
	throttle *logthrottle.Throttle
}

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l.log == nil {
		return
	}
	ok, held := l.throttle.Allow(format) // the format is the kind; the values vary
	if !ok {
		return
	}
	ev := l.log.Warn()
	if held > 0 {
		ev = ev.Int("repeated", held)
	}
	ev.Msg(fmt.Sprintf(format, v...))
}
