package main

import (
	"context"
	"encoding/json"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

// runRedisLoss shows or acknowledges a loss of Redis's data a worker
// noticed (workers are not ready until it is acknowledged):
//
//	noderemover redis-loss show   → {"data_lost": {"noticed_at", "data_since"} or null}
//	noderemover redis-loss ack    → {"acknowledged": {...} or null}
func runRedisLoss(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	verb := "redis-loss"
	if len(args) > 0 && (args[0] == "show" || args[0] == "ack") {
		verb += " " + args[0]
	}
	f := newFlags(verb, io)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if verb == "redis-loss" { // -h, or no verb
		if code, ok := f.parse(args); !ok {
			return code
		}
		return fail(io, exitUsage, "redis-loss: say show (is a loss of Redis's data waiting to be acknowledged?) or ack (acknowledge it)")
	}
	if code, ok := f.parse(args[1:]); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "%s: unexpected argument %q", verb, f.Arg(0))
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "%s: %v", verb, err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, enqueuer.Options{RecordTTL: cfg.RecordTTL})
	defer client.Close()
	var out any
	if args[0] == "ack" {
		loss, err := client.AcknowledgeDataLoss(ctx)
		if err != nil {
			return fail(io, exitFailure, "%s: %v", verb, err)
		}
		out = map[string]*enqueuer.DataLoss{"acknowledged": loss}
	} else {
		loss, err := client.DataLoss(ctx)
		if err != nil {
			return fail(io, exitFailure, "%s: %v", verb, err)
		}
		out = map[string]*enqueuer.DataLoss{"data_lost": loss}
	}
	if err := json.NewEncoder(io.out).Encode(out); err != nil {
		return fail(io, exitFailure, "%s: %v", verb, err)
	}
	return exitOK
}
