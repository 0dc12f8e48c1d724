package redisconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestUnavailable tells Redis or the network failing from everything else.
func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "x"}}
	cases := []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("get request r: %w", refused), true},
		{io.EOF, true},
		{syscall.ECONNRESET, true},
		{redis.ErrPoolTimeout, true},
		{redis.ErrClosed, true},
		{context.DeadlineExceeded, true}, // Redis did not answer in time
		// asynq gives its script errors as text.
		{errors.New("UNKNOWN: redis eval error: dial tcp 127.0.0.1:6379: connect: connection refused"), true},
		{errors.New("LOADING Redis is loading the dataset in memory"), true},
		{errors.New("READONLY You can't write against a read only replica."), true},
		{nil, false},
		{context.Canceled, false},
		{&json.SyntaxError{}, false},
		{errors.New("{noderemover}:request:r is corrupt: invalid character"), false},
		{errors.New("ERR Error running script: attempt to compare nil with number"), false},
	}
	for _, c := range cases {
		if got := redisconn.Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
