package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redisconn"
)

// maxLineBytes bounds one --from-file line (200 nodes take about 8 KiB).
const maxLineBytes = 64 << 10

func runEnqueue(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("enqueue", io)
	var r enqueuer.Request
	var nodes stringList
	f.StringVar(&r.ProjectID, "project-id", "", "CCE project id")
	f.StringVar(&r.ClusterID, "cluster-id", "", "CCE cluster id")
	f.StringVar(&r.Region, "region", "", "CCE region of the project and cluster, e.g. eu-west-101 (default CCE_REGION)")
	f.Var(&nodes, "node", "node uid to remove (repeat for more)")
	f.StringVar(&r.SSHKey, "ssh-key", "", "key pair the removed nodes are reinstalled with")
	passwordStdin := f.Bool("password-stdin", false, "read the reinstalled nodes' password from the first line of stdin\n(CCE's rule: 8 to 26 letters, digits and !@$%^-_=+[{}]:,./?~#*, with three of\nupper-case, lower-case, digits and those, and not the user name or it reversed)")
	f.StringVar(&r.Username, "username", "", "user of that password (default root)")
	f.StringVar(&r.ID, "request-id", "", "name for the request; enqueueing it again is one removal (default: a new uuid)")
	fromFile := f.String("from-file", "", "JSON lines of requests to enqueue, or - for stdin")
	f.StringVar(&r.CallbackURL, "callback-url", "", "POST the request's final event there, signed (its host must be in WEBHOOK_ALLOWED_HOSTS)")
	f.StringVar(&r.CallbackEvents, "callback-events", "", "what goes to --callback-url: final (default) or all")
	wait := f.Bool("wait", false, "after enqueueing, wait until each request is final and print its status\n(exit 0 when every one succeeded, 1 otherwise)")
	dryRun := f.Bool("dry-run", false, "store nothing: print what would happen if this were asked now\n(a worker answers; exit 0 when every node would go, 1 when one is blocked)")
	drainFlags := addDrainFlags(f.FlagSet)
	f.env("redis-url", "REDIS_URL", "Redis URL")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "enqueue: unexpected argument %q", f.Arg(0))
	}
	r.Nodes = nodes
	if err := emptyFlag(f.FlagSet); err != nil {
		return fail(io, exitUsage, "enqueue: %v", err)
	}
	drain, err := drainFlags.options(f.FlagSet)
	if err != nil {
		return fail(io, exitUsage, "enqueue: %v", err)
	}
	r.Drain = drain

	var reqs []enqueuer.Request
	var lines []int          // the file line of each request, with --from-file
	var fileBad []*lineError // lines that could not be decoded
	if *fromFile != "" {
		if r.ProjectID != "" || r.ClusterID != "" || r.Region != "" || len(r.Nodes) > 0 || r.SSHKey != "" || *passwordStdin || r.Username != "" || r.ID != "" || r.Drain != nil ||
			r.CallbackURL != "" || r.CallbackEvents != "" {
			return fail(io, exitUsage, "enqueue: --from-file takes everything from the file; give no other request flags")
		}
		var err error
		if reqs, lines, fileBad, err = readRequests(*fromFile, io.in); err != nil {
			return fail(io, exitUsage, "enqueue: %v", err)
		}
	} else {
		if *passwordStdin {
			pw, err := readPassword(io.in)
			if err != nil {
				return fail(io, exitUsage, "enqueue: --password-stdin: %v", err)
			}
			r.Password = pw
		} else if r.Username != "" {
			return fail(io, exitUsage, "enqueue: --username goes with --password-stdin")
		}
		reqs = []enqueuer.Request{r}
	}
	cfg, err := f.config(env)
	if err != nil {
		return fail(io, exitUsage, "enqueue: %v", err)
	}
	rdb := redisconn.New(cfg.Redis)
	defer rdb.Close()
	client := enqueuer.New(rdb, clientOptions(cfg))
	defer client.Close()
	// Validate (and hash) everything before anything touches Redis; with
	// --from-file every bad line is reported, in file order.
	prepared := make([]enqueuer.Prepared, len(reqs))
	bad := fileBad
	for i, req := range reqs {
		p, err := client.Prepare(req)
		if err != nil {
			if lines == nil {
				return fail(io, exitUsage, "enqueue: %v", err)
			}
			bad = append(bad, &lineError{line: lines[i], err: err})
			continue
		}
		prepared[i] = p
	}
	if len(bad) > 0 {
		return failLines(io, bad)
	}

	out := json.NewEncoder(io.out)
	if *dryRun {
		return dryRunAll(ctx, client, prepared, io)
	}
	var ids []string
	for i, req := range prepared {
		st, _, err := client.EnqueuePrepared(ctx, req)
		if err != nil {
			code := exitFailure
			if errors.Is(err, enqueuer.ErrInvalid) {
				code = exitUsage
			}
			if len(reqs) > 1 {
				return fail(io, code, "enqueue: request %d: %v", i+1, err)
			}
			return fail(io, code, "enqueue: %v", err)
		}
		if *wait {
			ids = append(ids, st.RequestID)
			continue
		}
		if err := out.Encode(st); err != nil {
			return fail(io, exitFailure, "enqueue: %v", err)
		}
	}
	code := exitOK
	for _, id := range ids { // --wait: each final status, learnt from the event stream
		st, err := client.Wait(ctx, id)
		if err != nil {
			return fail(io, exitFailure, "enqueue --wait: %s: %v", id, err)
		}
		if err := out.Encode(st); err != nil {
			return fail(io, exitFailure, "enqueue: %v", err)
		}
		if st.State != enqueuer.StateSucceeded {
			code = exitFailure
		}
	}
	return code
}

// dryRunAll prints the dry run of each request: exit 0 when every node of
// every request would go, 1 when one is blocked or no worker answered.
func dryRunAll(ctx context.Context, client *enqueuer.Client, reqs []enqueuer.Prepared, io stdio) int {
	out := json.NewEncoder(io.out)
	code := exitOK
	for i, req := range reqs {
		d, err := func() (*enqueuer.DryRun, error) {
			ctx, cancel := context.WithTimeout(ctx, enqueuer.DefaultDryRunTimeout)
			defer cancel()
			return client.PreflightPrepared(ctx, req)
		}()
		if err != nil {
			if len(reqs) > 1 {
				return fail(io, exitFailure, "enqueue --dry-run: request %d: %v", i+1, err)
			}
			return fail(io, exitFailure, "enqueue --dry-run: %v", err)
		}
		if err := out.Encode(d); err != nil {
			return fail(io, exitFailure, "enqueue: %v", err)
		}
		if !d.OK {
			code = exitFailure
		}
	}
	return code
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("stdin holds no password")
	}
	return line, nil
}

// readRequests reads JSON lines (a path, or "-" for in), each decoded as
// strictly as the API decodes a POST body: the requests, the file line of
// each, and the lines that could not be decoded, in file order. The error
// is for a file that cannot be read at all, or holds no request.
func readRequests(path string, in io.Reader) (reqs []enqueuer.Request, lines []int, bad []*lineError, err error) {
	src := in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, nil, err
		}
		defer f.Close()
		src = f
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r, err := enqueuer.DecodeRequest(line)
		if err != nil {
			bad = append(bad, &lineError{line: n, err: err})
			continue
		}
		reqs = append(reqs, r)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, nil, err
		}
		bad = append(bad, &lineError{line: n + 1, err: fmt.Errorf("larger than %d bytes (the file was read no further)", maxLineBytes)})
	}
	if len(reqs) == 0 && len(bad) == 0 {
		return nil, nil, nil, errors.New("no request in the file")
	}
	return reqs, lines, bad, nil
}

// lineError is what is wrong with one line of a --from-file file.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// failLines prints one line per bad line, in file order, and returns
// exitUsage: nothing was enqueued.
func failLines(io stdio, bad []*lineError) int {
	slices.SortStableFunc(bad, func(a, b *lineError) int { return a.line - b.line })
	for _, err := range bad {
		fail(io, exitUsage, "enqueue: %v", err)
	}
	if len(bad) > 1 {
		fail(io, exitUsage, "enqueue: %d bad lines; nothing was enqueued", len(bad))
	}
	return exitUsage
}

// emptyFlag refuses an optional request flag given as "", as the API
// refuses the member given empty: left as is it would mean "not given".
func emptyFlag(fs *flag.FlagSet) error {
	members := map[string]string{"request-id": "request_id", "ssh-key": "ssh_key", "username": "username", "region": "region"}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		if member, ok := members[fl.Name]; ok && fl.Value.String() == "" && err == nil {
			err = &enqueuer.InvalidError{Field: member, Problem: "is empty; give a value or leave --" + fl.Name + " out"}
		}
	})
	return err
}
