package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

func runList(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("list", io)
	state := f.String("state", "", "only requests in this state (queued, draining, submitting, polling, succeeded, failed, cancelled)")
	cluster := f.String("cluster-id", "", "only requests for this cluster")
	limit := f.Int("limit", enqueuer.DefaultListLimit, fmt.Sprintf("at most this many, newest first (1-%d)", enqueuer.MaxListLimit))
	before := f.String("before", "", "the next page: only requests older than this one (the last id of the page before)")
	output := f.String("output", "table", "table (for people) or json (one JSON object)")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "list: unexpected argument %q", f.Arg(0))
	}
	if *output != "table" && *output != "json" {
		return fail(io, exitUsage, "list: --output must be table or json, not %q", *output)
	}
	if *limit < 1 || *limit > enqueuer.MaxListLimit {
		return fail(io, exitUsage, "list: --limit must be between 1 and %d", enqueuer.MaxListLimit)
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "list: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	// A record that is not what noderemover wrote is left out, and said
	// once on stderr with its key.
	skipped := map[string]bool{}
	client := enqueuer.New(rdb, enqueuer.Options{RecordTTL: cfg.RecordTTL, Corrupt: func(key string, err error) {
		if !skipped[key] {
			skipped[key] = true
			fmt.Fprintf(io.err, "noderemover: list: skipped a record: %v\n", err)
		}
	}})
	defer client.Close()

	all, err := client.List(ctx, enqueuer.ListFilter{State: enqueuer.State(*state), ClusterID: *cluster, Limit: *limit, Before: *before})
	switch {
	case errors.Is(err, enqueuer.ErrInvalid):
		return fail(io, exitUsage, "list: %v", err)
	case err != nil:
		return fail(io, exitFailure, "list: %v", err)
	}
	next := ""
	if len(all) == *limit {
		next = all[len(all)-1].RequestID
	}
	if *output == "json" {
		body := map[string]any{"removals": all}
		if all == nil {
			body["removals"] = []enqueuer.Status{}
		}
		if next != "" {
			body["next_before"] = next
		}
		if err := json.NewEncoder(io.out).Encode(body); err != nil {
			return fail(io, exitFailure, "list: %v", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tSTATE\tCLUSTER\tNODES\tJOB\tCREATED\tERROR")
	for _, st := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.RequestID, st.State, st.ClusterID, nodeCounts(st),
			dash(st.JobID), st.CreatedAt.Local().Format(time.DateTime), dash(truncate(st.Error, 60)))
	}
	if err := tw.Flush(); err != nil {
		return fail(io, exitFailure, "list: %v", err)
	}
	if next != "" {
		fmt.Fprintf(io.err, "noderemover: list: more may be older: add --before %s\n", next)
	}
	return exitOK
}

// nodeCounts says how many nodes a request has and how many were removed.
func nodeCounts(st enqueuer.Status) string {
	removed := 0
	for _, n := range st.Nodes {
		if n.State == enqueuer.NodeRemoved {
			removed++
		}
	}
	return fmt.Sprintf("%d/%d removed", removed, len(st.Nodes))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
