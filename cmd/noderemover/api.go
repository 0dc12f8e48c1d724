package main

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/noderemover/noderemover/api"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/internal/store"
)

func runAPI(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("api", io)
	f.env("addr", "API_ADDR", "address to serve the API on")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "api: unexpected argument %q", f.Arg(0))
	}
	cfg, err := f.config(env)
	if err == nil {
		err = cfg.CheckAPI()
	}
	if err != nil {
		return fail(io, exitUsage, "api: %v", err)
	}
	log := newLogger(cfg, io.err)
	routeStdLog(log)
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, withCorrupt(clientOptions(cfg), store.NewCorruptLog(log).Report))
	defer client.Close()

	tokens := make([]string, len(cfg.APITokens))
	for i, t := range cfg.APITokens {
		tokens[i] = t.Reveal()
	}
	h := api.New(client, api.Options{
		Tokens: tokens,
		Ping:   func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Logger: log,
	})
	l, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fail(io, exitFailure, "api: listen on %s: %v", cfg.APIAddr, err)
	}
	srv := api.NewServer(h, httpLimits(cfg), log)
	srv.RegisterOnShutdown(client.CloseFeeds) // event streams and long polls end; other calls may finish
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Info().Str("addr", l.Addr().String()).Str("redis", cfg.Redis.String()).Int("tokens", len(tokens)).Msg("api serving")

	select {
	case err := <-served:
		return fail(io, exitFailure, "api: %v", err)
	case <-ctx.Done():
	}
	log.Info().Dur("shutdown_timeout", cfg.ShutdownTimeout).Msg("stopping: no new connections; running calls may finish")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("calls still running at the shutdown timeout were cut off")
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn().Err(err).Msg("api server")
	}
	log.Info().Msg("api stopped")
	return exitOK
}
