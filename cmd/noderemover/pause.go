package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

// runPause and runResume flip the pause switch of one cluster
// (--cluster-id) or of every cluster, and print what is paused then.
func runPause(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	return runPauseSwitch(ctx, "pause", args, io, env, (*enqueuer.Client).Pause)
}

func runResume(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	return runPauseSwitch(ctx, "resume", args, io, env, (*enqueuer.Client).Resume)
}

func runPauseSwitch(ctx context.Context, name string, args []string, io stdio, env config.Getenv,
	flip func(*enqueuer.Client, context.Context, string) error) int {
	f := newFlags(name, io)
	cluster := f.String("cluster-id", "", "the cluster (default: every cluster)")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "%s: unexpected argument %q", name, f.Arg(0))
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "%s: %v", name, err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()
	if err := flip(client, ctx, *cluster); err != nil {
		code := exitFailure
		if errors.Is(err, enqueuer.ErrInvalid) {
			code = exitUsage
		}
		return fail(io, code, "%s: %v", name, err)
	}
	paused, err := client.Paused(ctx)
	if err != nil {
		return fail(io, exitFailure, "%s: done, but what is paused could not be read: %v", name, err)
	}
	if err := json.NewEncoder(io.out).Encode(pausedJSON(paused)); err != nil {
		return fail(io, exitFailure, "%s: %v", name, err)
	}
	return exitOK
}

// pausedJSON is what is paused as `noderemover pause` prints it and the API
// answers: {"paused": {"CLUSTER_ID" or "*": "since"}}.
func pausedJSON(p map[string]time.Time) map[string]map[string]time.Time {
	return map[string]map[string]time.Time{"paused": p}
}
