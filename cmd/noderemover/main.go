// Command noderemover removes nodes from Huawei Cloud CCE clusters through a
// Redis-backed queue. Run `noderemover help` for its subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	setRedisLogger(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.LookupEnv)
	stop()
	os.Exit(code)
}

func init() {
	// Log timestamps with sub-second precision, in RFC 3339.
	zerolog.TimeFieldFormat = time.RFC3339Nano
}
