package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

// runCluster shows or changes one cluster's guardrails:
//
//	noderemover cluster get CLUSTER_ID
//	noderemover cluster set CLUSTER_ID [--max-disrupting N|N%|default] [--min-nodes N|default]
//	                                   [--window "CRON DURATION TZ"]... [--no-windows]
func runCluster(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") { // -h, or a flag before the verb: as every command answers
		f := newFlags("cluster", io)
		f.String("max-disrupting", "", "(cluster set) at most this many of its nodes draining or removing at once: N, N%, or default")
		f.String("min-nodes", "", "(cluster set) never fewer nodes left: N, or default")
		f.String("window", "", "(cluster set) a maintenance window, \"CRON DURATION TZ\"; repeat for more")
		f.Bool("no-windows", false, "(cluster set) remove the cluster's windows")
		if code, ok := f.parse(args); !ok {
			return code
		}
	}
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		return fail(io, exitUsage, "cluster: say get CLUSTER_ID or set CLUSTER_ID [--max-disrupting N|N%%] [--min-nodes N] [--window \"CRON DURATION TZ\"]... [--no-windows]")
	}
	verb := "cluster " + args[0]
	f := newFlags(verb, io)
	maxDisrupting := f.String("max-disrupting", "", "at most this many of its nodes draining or removing at once: N, N% of its nodes, or default (the fleet's CLUSTER_MAX_DISRUPTING)")
	minNodes := f.String("min-nodes", "", "never fewer nodes left: N, or default (the fleet's CLUSTER_MIN_NODES)")
	var windows stringList
	f.Var(&windows, "window", "a maintenance window, \"CRON DURATION TZ\" (e.g. \"0 2 * * 1-5 4h Europe/Berlin\"); repeat for more; the windows given replace the cluster's")
	noWindows := f.Bool("no-windows", false, "remove the cluster's windows (removals may run at any time)")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	rest := args[1:]
	if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
		return fail(io, exitUsage, "%s: name the cluster: %s CLUSTER_ID", verb, verb)
	}
	cluster := rest[0]
	if code, ok := f.parse(rest[1:]); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "%s: unexpected argument %q", verb, f.Arg(0))
	}
	changes := *maxDisrupting != "" || *minNodes != "" || len(windows) > 0 || *noWindows
	if args[0] == "get" && changes {
		return fail(io, exitUsage, "%s: takes no setting; use cluster set", verb)
	}
	if args[0] == "set" && !changes {
		return fail(io, exitUsage, "%s: give --max-disrupting, --min-nodes, --window or --no-windows", verb)
	}
	if len(windows) > 0 && *noWindows {
		return fail(io, exitUsage, "%s: --window and --no-windows together", verb)
	}
	change, err := settingsChange(*maxDisrupting, *minNodes, windows, *noWindows)
	if err != nil {
		return fail(io, exitUsage, "%s: %v", verb, err)
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "%s: %v", verb, err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()
	var v *enqueuer.ClusterView
	if args[0] == "get" {
		v, err = client.Cluster(ctx, cluster)
	} else {
		v, err = client.UpdateCluster(ctx, cluster, change)
	}
	if err != nil {
		code := exitFailure
		if errors.Is(err, enqueuer.ErrInvalid) {
			code = exitUsage
		}
		return fail(io, code, "%s: %v", verb, err)
	}
	if err := json.NewEncoder(io.out).Encode(v); err != nil {
		return fail(io, exitFailure, "%s: %v", verb, err)
	}
	return exitOK
}

// settingsChange is what cluster set's flags change, checked before
// anything touches Redis.
func settingsChange(maxDisrupting, minNodes string, windows []string, noWindows bool) (func(*enqueuer.ClusterSettings) error, error) {
	var budget *enqueuer.Budget
	if maxDisrupting != "" && maxDisrupting != "default" {
		b, err := enqueuer.ParseBudget(maxDisrupting)
		if err != nil {
			return nil, flagError("--max-disrupting", err)
		}
		budget = &b
	}
	var min *int
	if minNodes != "" && minNodes != "default" {
		n, err := strconv.Atoi(minNodes)
		if err != nil || n < 0 {
			return nil, errors.New("--min-nodes: " + strconv.Quote(minNodes) + " is not a count of nodes (0 or more) nor default")
		}
		min = &n
	}
	var ws []enqueuer.Window
	for _, s := range windows {
		w, err := enqueuer.ParseWindow(s)
		if err != nil {
			return nil, flagError("--window", err)
		}
		ws = append(ws, w)
	}
	return func(cs *enqueuer.ClusterSettings) error {
		if maxDisrupting != "" {
			cs.MaxDisrupting = budget
		}
		if minNodes != "" {
			cs.MinNodes = min
		}
		if len(ws) > 0 || noWindows {
			cs.Windows = ws
		}
		return nil
	}, nil
}

// fleetGuard is the fleet's guardrails from the configuration (validated
// there already).
func fleetGuard(cfg config.Config) *enqueuer.Guard {
	g := enqueuer.DefaultGuard
	if b, err := enqueuer.ParseBudget(cfg.ClusterMaxDisrupting); err == nil && cfg.ClusterMaxDisrupting != "" {
		g.MaxDisrupting = b
	}
	g.MinNodes = cfg.ClusterMinNodes
	return &g
}

// flagError says which flag a parser's error is about.
func flagError(flag string, err error) error {
	var inv *enqueuer.InvalidError
	if errors.As(err, &inv) {
		return errors.New(flag + ": " + inv.Problem)
	}
	return errors.New(flag + ": " + err.Error())
}
