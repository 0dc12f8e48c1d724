package testkit

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// HoldBodies opens n connections to addr, each sending a request line
// (method and path) and headers that promise a 200 kB body (Content-Length:
// 200000), then nothing. It returns the count of connections the server has
// closed so far; the test waits on it with WaitFor. header is extra header
// lines ("Authorization: ...\r\n"), or "". The connections are closed when
// the test ends.
func HoldBodies(tb testing.TB, addr, method, path string, n int, header string) *atomic.Int64 {
	tb.Helper()
	var closed atomic.Int64
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n)
	tb.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
		wg.Wait()
	})
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n%s\r\n",
		method, path, addr, header)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatalf("connection %d of %d: %v", len(conns)+1, n, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, req); err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, c) // an answer may come; the body never does
			closed.Add(1)
		}()
	}
	return &closed
}
