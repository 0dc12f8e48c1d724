package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

func runStatus(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("status", io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.Usage = func() {
		f.Output().Write([]byte("Usage: noderemover status [flags] REQUEST_ID\n"))
		f.PrintDefaults()
	}
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() != 1 {
		return fail(io, exitUsage, "status: want exactly one REQUEST_ID")
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "status: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()

	st, err := client.Status(ctx, f.Arg(0))
	switch {
	case errors.Is(err, enqueuer.ErrNotFound):
		return fail(io, exitFailure, "status: request %s not found (never enqueued, or older than RECORD_TTL)", f.Arg(0))
	case errors.Is(err, enqueuer.ErrInvalid):
		return fail(io, exitUsage, "status: %v", err)
	case err != nil:
		return fail(io, exitFailure, "status: %v", err)
	}
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		return fail(io, exitFailure, "status: %v", err)
	}
	return exitOK
}
