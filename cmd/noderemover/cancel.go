package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

func runCancel(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("cancel", io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.Usage = func() {
		f.Output().Write([]byte("Usage: noderemover cancel [flags] REQUEST_ID\n"))
		f.PrintDefaults()
	}
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() != 1 {
		return fail(io, exitUsage, "cancel: want exactly one REQUEST_ID")
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "cancel: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()

	st, err := client.Cancel(ctx, f.Arg(0))
	switch {
	case errors.Is(err, enqueuer.ErrNotFound):
		return fail(io, exitFailure, "cancel: request %s not found", f.Arg(0))
	case errors.Is(err, enqueuer.ErrInvalid):
		return fail(io, exitUsage, "cancel: %v", err)
	case err != nil && st.RequestID == "":
		return fail(io, exitFailure, "cancel: %v", err)
	case err != nil:
		// Cancelled, but the task could not be removed: say so, still print.
		fail(io, exitOK, "cancel: %v", err)
	}
	if err := json.NewEncoder(io.out).Encode(st); err != nil {
		return fail(io, exitFailure, "cancel: %v", err)
	}
	return exitOK
}
