package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/config"
)

func runFakeCCE(ctx context.Context, args []string, io stdio, env config.Getenv) int {
	f := newFlags("fake-cce", io)
	addr := f.String("addr", "127.0.0.1:8080", "address to listen on (HOST:PORT)")
	jobDuration := f.Duration("job-duration", 10*time.Second, "how long a removal job runs")
	var failNodes stringList
	f.Var(&failNodes, "fail-node", "node uid whose removal fails (repeat for more)")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if *jobDuration < 0 {
		return fail(io, exitUsage, "fake-cce: --job-duration must not be negative")
	}
	token, _ := env("CCE_AUTH_TOKEN")
	ak, _ := env("HUAWEICLOUD_SDK_AK")
	sk, _ := env("HUAWEICLOUD_SDK_SK")
	if (ak == "") != (sk == "") {
		return fail(io, exitUsage, "fake-cce: set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or neither")
	}
	fake := ccetest.New(ccetest.Options{
		JobDuration: *jobDuration, Token: token, AK: ak, SK: sk, AutoNodes: true,
		Logf: func(format string, args ...any) { fmt.Fprintf(io.err, format+"\n", args...) },
	})
	fake.FailRemoval(failNodes...)

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(io, exitFailure, "fake-cce: %v", err)
	}
	auth := "any request (set CCE_AUTH_TOKEN or HUAWEICLOUD_SDK_AK/SK to require credentials)"
	switch {
	case token != "" && ak != "":
		auth = "X-Auth-Token = $CCE_AUTH_TOKEN or requests signed with $HUAWEICLOUD_SDK_AK/SK"
	case token != "":
		auth = "X-Auth-Token = $CCE_AUTH_TOKEN"
	case ak != "":
		auth = "requests signed with $HUAWEICLOUD_SDK_AK/SK"
	}
	fmt.Fprintf(io.err, "fake CCE on http://%s: every well-formed node exists, removal jobs take %v; accepting %s\n",
		l.Addr(), *jobDuration, auth)

	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fail(io, exitFailure, "fake-cce: %v", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(io, exitFailure, "fake-cce: %v", err)
	}
	return exitOK
}
