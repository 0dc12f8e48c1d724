package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/controller"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/health"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/internal/store"
)

// runController watches the Nodes of WATCH_CLUSTERS for
// noderemover.io/remove (package controller).
func runController(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("controller", io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.env("clusters", "WATCH_CLUSTERS", "clusters to watch: project_id/cluster_id,...")
	f.env("ssh-key", "WATCH_SSH_KEY", "key pair of a Node that names none")
	f.env("http-addr", "HTTP_ADDR", "address of /healthz and /readyz")
	f.env("log-level", "LOG_LEVEL", "trace, debug, info, warn or error")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "controller: unexpected argument %q", f.Arg(0))
	}
	cfg, err := f.config(env)
	if err == nil {
		err = cfg.CheckCCE()
	}
	var clusters []controller.Cluster
	if err == nil {
		clusters, err = controller.ParseClusters(cfg.WatchClusters)
	}
	if err == nil && cfg.KubeAccess == "none" {
		err = errors.New("KUBE_ACCESS is none: the controller reaches each cluster's Kubernetes as the workers do (cce or dir)")
	}
	if err != nil {
		return fail(io, exitUsage, "controller: %v", err)
	}
	log := newLogger(cfg, io.err)
	routeStdLog(log)
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	enq := enqueuer.New(rdb, withCorrupt(clientOptions(cfg), store.NewCorruptLog(log).Report))
	defer enq.Close()

	auth, source := credentialSource(cfg)
	if err := checkCredentials(ctx, cfg, auth); err != nil {
		return fail(io, exitUsage, "controller: %v", err)
	}
	clients := newRegionClients(cfg, auth, nil)
	api, err := clients.client(cfg.CCERegion)
	if err != nil {
		return fail(io, exitUsage, "controller: %v", err)
	}
	access, err := newKubeAccess(cfg, api, clients.forKube, nil)
	if err != nil {
		return fail(io, exitUsage, "controller: %v", err)
	}
	ctl, err := controller.New(access, api, enq, controller.Config{
		Clusters: clusters, SSHKey: cfg.WatchSSHKey, Resync: cfg.WatchResync, Logger: log,
	})
	if err != nil {
		return fail(io, exitUsage, "controller: %v", err)
	}

	mux := http.NewServeMux()
	health.RegisterLogged(mux, func(check string, err error) { log.Warn().Str("check", check).Err(err).Msg("not ready") },
		health.Check{Name: "redis", Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	hs, err := listenAndServe(cfg.HTTPAddr, mux, httpLimits(cfg), log)
	if err != nil {
		return fail(io, exitFailure, "controller: %v", err)
	}
	log.Info().Str("credentials", source).Str("redis", cfg.Redis.String()).Str("watch_clusters", cfg.WatchClusters).
		Str("kube_access", cfg.KubeAccess).Str("http_addr", hs.addr.String()).Msg("controller started")
	runErr := ctl.Run(ctx)
	if err := hs.stop(); err != nil {
		log.Warn().Err(err).Msg("http server stop")
	}
	if runErr != nil {
		return fail(io, exitFailure, "controller: %v", runErr)
	}
	log.Info().Msg("controller stopped")
	return exitOK
}
