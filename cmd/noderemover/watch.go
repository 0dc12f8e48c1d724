package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

// runWatch prints events as they happen; with request ids it follows
// those and exits once each is final: 0 when all succeeded, 1 otherwise.
func runWatch(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("watch", io)
	cluster := f.String("cluster-id", "", "only this cluster's events")
	after := f.String("after", "", "first print the events after this event id (0-0: every event kept)")
	asJSON := f.Bool("json", false, "print each event as its CloudEvents JSON, one per line")
	f.env("redis-url", "REDIS_URL", "Redis URL")
	f.Usage = func() {
		fmt.Fprint(f.Output(), "Usage: noderemover watch [flags] [REQUEST_ID...]\n"+
			"Prints events as they happen. With request ids, only theirs, and it exits once each is final\n"+
			"(0 when every one succeeded, 1 otherwise); without, it follows every event until interrupted.\n")
		f.PrintDefaults()
	}
	if code, ok := f.parse(args); !ok {
		return code
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "watch: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()

	filter := enqueuer.EventFilter{After: *after, RequestIDs: f.Args(), ClusterID: *cluster}
	if err := filter.Validate(); err != nil {
		return fail(io, exitUsage, "watch: %v", err)
	}
	w := watcher{out: io.out, json: *asJSON, open: map[string]bool{}, failed: map[string]bool{}}
	feed, err := client.Follow(ctx, filter)
	if err != nil {
		return fail(io, exitFailure, "watch: %v", err)
	}
	defer func() { feed.Close() }()
	// Subscribed first, then read: no event falls between the two.
	for _, id := range filter.RequestIDs {
		st, err := client.Status(ctx, id)
		switch {
		case errors.Is(err, enqueuer.ErrNotFound):
			return fail(io, exitFailure, "watch: request %s not found (never enqueued, or older than RECORD_TTL)", id)
		case err != nil:
			return fail(io, exitFailure, "watch: %v", err)
		case st.State.Final() && filter.After == "":
			fmt.Fprintf(io.out, "%s  %s is %s already%s\n", st.UpdatedAt.Format(watchTime), id, st.State, errorNote(st.Error))
			w.failed[id] = st.State != enqueuer.StateSucceeded
		case !st.State.Final():
			w.open[id] = true
		}
	}
	if filter.After != "" { // what happened after --after decides, events included
		for _, id := range filter.RequestIDs {
			w.open[id] = true
		}
	}
	last := filter.After
	for len(filter.RequestIDs) == 0 || len(w.open) > 0 {
		e, err := feed.Next(ctx)
		switch {
		case errors.Is(err, enqueuer.ErrFellBehind) && last != "":
			feed.Close()
			filter.After = last
			if feed, err = client.Follow(ctx, filter); err != nil {
				return fail(io, exitFailure, "watch: %v", err)
			}
			continue
		case ctx.Err() != nil:
			return exitOK // interrupted
		case err != nil:
			return fail(io, exitFailure, "watch: %v", err)
		}
		last = e.ID
		if err := w.print(e); err != nil {
			return fail(io, exitFailure, "watch: %v", err)
		}
	}
	for _, bad := range w.failed {
		if bad {
			return exitFailure
		}
	}
	return exitOK
}

const watchTime = "2006-01-02T15:04:05.000Z07:00"

type watcher struct {
	out          io.Writer
	json         bool
	open, failed map[string]bool
}

// print writes one event and notes a named request's end.
func (w *watcher) print(e enqueuer.Event) error {
	if e.Final() && w.open[e.Subject] {
		delete(w.open, e.Subject)
		w.failed[e.Subject] = e.RequestState() != enqueuer.StateSucceeded
	}
	if w.json {
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.out, "%s\n", raw)
		return err
	}
	what := strings.TrimPrefix(e.Type, enqueuer.EventTypePrefix)
	detail := ""
	if e.Node != "" {
		var n enqueuer.NodeEvent
		if json.Unmarshal(e.Data, &n) == nil {
			detail = "  " + e.Node + errorNote(n.Node.Reason)
		}
	} else {
		var st enqueuer.Status
		if json.Unmarshal(e.Data, &st) == nil {
			detail = errorNote(st.Error)
			if st.JobID != "" && st.State == enqueuer.StatePolling {
				detail = "  job " + st.JobID
			}
		}
	}
	_, err := fmt.Fprintf(w.out, "%s  %s  %s%s\n", e.Time.Local().Format(watchTime), e.Subject, what, detail)
	return err
}

func errorNote(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
