package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/worker"
)

func runWorker(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("worker", io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.env("concurrency", "WORKER_CONCURRENCY", "tasks at once")
	f.env("log-level", "LOG_LEVEL", "trace, debug, info, warn or error")
	f.env("log-format", "LOG_FORMAT", "json or console")
	if code, ok := f.parse(args); !ok {
		return code
	}
	cfg, err := f.config(env)
	if err == nil {
		err = cfg.CheckCCE()
	}
	if err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	log := newLogger(cfg, io.err)
	api, err := newCCEClient(cfg)
	if err != nil {
		return fail(io, exitUsage, "worker: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()

	w := worker.New(rdb, api, workerConfig(cfg, log))
	log.Info().Str("redis", cfg.Redis.String()).Str("cce_endpoint", cfg.CCEEndpoint).
		Int("concurrency", cfg.WorkerConcurrency).Msg("worker starting")
	if err := w.Run(ctx); err != nil {
		log.Error().Err(err).Msg("worker stopped")
		return exitFailure
	}
	log.Info().Msg("worker stopped")
	return exitOK
}

// workerConfig maps the configuration onto the worker's.
func workerConfig(cfg config.Config, log zerolog.Logger) worker.Config {
	return worker.Config{
		Concurrency:       cfg.WorkerConcurrency,
		RetryBackoffMin:   cfg.RetryBackoffMin,
		RetryBackoffMax:   cfg.RetryBackoffMax,
		SubmitMaxAttempts: cfg.SubmitMaxAttempts,
		PollIntervalMin:   cfg.PollIntervalMin,
		PollIntervalMax:   cfg.PollIntervalMax,
		PollFirstDelay:    cfg.PollFirstDelay,
		PollTimeout:       cfg.PollTimeout,
		CCETimeout:        cfg.CCETimeout,
		RecordTTL:         cfg.RecordTTL,
		Logger:            log,
	}
}

// newCCEClient builds the CCE client with the configured way to authenticate.
func newCCEClient(cfg config.Config) (*cce.Client, error) {
	var auth cce.Authenticator
	if cfg.CCEAuthToken != "" {
		auth = cce.TokenAuth{Token: cfg.CCEAuthToken.Reveal()}
	} else {
		auth = &cce.Signer{AK: cfg.AccessKey, SK: cfg.SecretKey.Reveal(), SecurityToken: cfg.SecurityToken.Reveal()}
	}
	c, err := cce.New(cce.Config{Endpoint: cfg.CCEEndpoint, Auth: auth, Timeout: cfg.CCETimeout, UserAgent: "noderemover"})
	if err != nil {
		return nil, fmt.Errorf("CCE client: %w", err)
	}
	return c, nil
}
