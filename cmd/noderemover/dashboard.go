package main

import (
	"context"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/dashboard"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

func runDashboard(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("dashboard", io)
	f.env("addr", "DASHBOARD_ADDR", "address to serve on")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if code, ok := f.parse(args); !ok {
		return code
	}
	cfg, err := f.config(env)
	if err == nil {
		err = cfg.CheckDashboard()
	}
	if err != nil {
		return fail(io, exitUsage, "dashboard: %v", err)
	}
	log := newLogger(cfg, io.err)
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	requests := enqueuer.New(rdb, enqueuer.Options{RecordTTL: cfg.RecordTTL})
	defer requests.Close()
	h := dashboard.New(dashboard.Options{
		Redis: redisconn.ConnOpt(cfg.Redis), User: cfg.DashboardUser, Password: cfg.DashboardPassword.Reveal(),
		ReadOnly: cfg.DashboardReadOnly,
		Ready:    func() error { return rdb.Ping(context.Background()).Err() },
		Requests: requests,
	})
	defer h.Close()
	hs, err := listenAndServe(cfg.DashboardAddr, h, log)
	if err != nil {
		return fail(io, exitFailure, "dashboard: %v", err)
	}
	log.Info().Str("addr", hs.addr.String()).Bool("read_only", cfg.DashboardReadOnly).
		Bool("basic_auth", cfg.DashboardUser != "").Msg("dashboard serving")
	<-ctx.Done()
	if err := hs.stop(); err != nil {
		log.Warn().Err(err).Msg("dashboard stop")
	}
	return exitOK
}
