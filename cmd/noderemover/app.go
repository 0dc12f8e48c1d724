package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command could not do its job (Redis away, unknown request, node busy)
	exitUsage   = 2 // invalid flags or input; nothing was done
)

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio, env config.Getenv) int
}

func commands() map[string]command {
	return map[string]command{
		"enqueue":    {"ask for nodes to be removed", runEnqueue},
		"status":     {"print the status of a request as JSON", runStatus},
		"watch":      {"print events as they happen; with request ids, until each is final", runWatch},
		"worker":     {"run a worker that carries requests to CCE", runWorker},
		"fake-cce":   {"run a fake CCE API for trying things by hand", runFakeCCE},
		"demo":       {"run everything in process against a fake CCE and show it working", runDemo},
		"dashboard":  {"serve the asynqmon dashboard (basic auth, redacted payloads)", runDashboard},
		"cancel":     {"cancel a request that has not reached CCE yet", runCancel},
		"list":       {"list recent requests", runList},
		"pause":      {"pause removals of one cluster (--cluster-id) or of all: requests wait before their drain and their RemoveNode call", runPause},
		"resume":     {"lift a pause", runResume},
		"cluster":    {"show (get CLUSTER_ID) or change (set CLUSTER_ID ...) a cluster's guardrails: budget, minimum, maintenance windows", runCluster},
		"version":    {"print the version, VCS revision and Go version (also --version)", runVersion},
		"redis-loss": {"show (show) or acknowledge (ack) a loss of Redis's data a worker noticed; workers are not ready until it is acknowledged", runRedisLoss},
		"api":        {"serve the HTTP API for producers (POST /v1/removals, OpenAPI at /v1/openapi.json)", runAPI},
		"controller": {"watch the Nodes of WATCH_CLUSTERS and remove those annotated noderemover.io/remove=true", runController},
	}
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.out)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "noderemover: unknown command %q (run `noderemover help`)\n", args[0])
		return exitUsage
	}
	return cmd.run(ctx, args[1:], io, env)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "noderemover removes nodes from Huawei Cloud CCE clusters through a Redis queue.")
	fmt.Fprintln(w, "\nUsage: noderemover COMMAND [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `noderemover COMMAND -h` for a command's flags. Configuration comes from the environment; see the README.")
}

// flags is a flag set for one subcommand that writes its errors to stderr
// and can override environment variables.
type flags struct {
	*flag.FlagSet
	envOf  map[string]string // flag name → variable it overrides
	stderr io.Writer
}

func newFlags(name string, io stdio) *flags {
	fs := flag.NewFlagSet("noderemover "+name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	return &flags{FlagSet: fs, envOf: map[string]string{}, stderr: io.err}
}

// env adds a flag that overrides environment variable name.
func (f *flags) env(flagName, name, usage string) {
	f.String(flagName, "", usage+" (overrides "+name+")")
	f.envOf[flagName] = name
}

// parse parses args; the int is an exit code when parsing ended the command.
// A bad flag is one line on stderr, as every other error is: the flag
// package would follow its message with the whole usage, so it writes
// nowhere while parsing. -h and --help print the usage.
func (f *flags) parse(args []string) (int, bool) {
	f.SetOutput(io.Discard)
	err := f.Parse(args)
	f.SetOutput(f.stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		f.Usage()
		return exitOK, false
	}
	fmt.Fprintf(f.stderr, "%s: %s (run `%s -h` for its flags)\n", f.Name(), strings.ReplaceAll(err.Error(), "\n", "; "), f.Name())
	return exitUsage, false
}

// config loads the configuration with the flags that were given on top of env.
func (f *flags) config(env config.Getenv) (config.Config, error) {
	values := map[string]string{}
	f.Visit(func(fl *flag.Flag) {
		if name, ok := f.envOf[fl.Name]; ok {
			values[name] = fl.Value.String()
		}
	})
	cfg, err := config.Load(config.Overlay(env, values))
	if err == nil {
		// The host list's form is the enqueuer's to know (config imports
		// none of ours): checked here, once, for every subcommand.
		if _, herr := enqueuer.ParseAllowedHosts(cfg.WebhookAllowedHosts); herr != nil {
			err = fmt.Errorf("WEBHOOK_ALLOWED_HOSTS=%q: %w", cfg.WebhookAllowedHosts, herr)
		}
	}
	return cfg, err
}

// clientOptions are the enqueuer's options from the configuration (checked
// by flags.config): records' TTL, the drain defaults, the fleet's
// guardrails, the callback hosts and the event stream's length.
func clientOptions(cfg config.Config) enqueuer.Options {
	hosts, _ := enqueuer.ParseAllowedHosts(cfg.WebhookAllowedHosts)
	return enqueuer.Options{RecordTTL: cfg.RecordTTL, Drain: drainDefaults(cfg), Guard: fleetGuard(cfg),
		WebhookHosts: hosts, EventsMaxLen: cfg.EventsMaxLen, DefaultRegion: cfg.CCERegion, Regions: servedRegions(cfg)}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func newLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// fail prints a one-line error and returns code.
func fail(io stdio, code int, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(io.err, "noderemover: "+strings.ReplaceAll(msg, "\n", "; "))
	return code
}

func withCorrupt(o enqueuer.Options, corrupt func(key string, err error)) enqueuer.Options {
	o.Corrupt = corrupt
	return o
}
