package kubetest

import (
	"context"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

// waitLimit bounds every wait of the builders: a Node going Ready, Pods
// going Running, a controller catching up. Two shared cores are slow.
const waitLimit = 60 * time.Second

// waitFor is testkit.WaitFor for conditions on the cluster: cond returns
// whether it holds and what it saw, and a timeout logs the last thing seen
// and the tails of the components' logs.
func (cp *ControlPlane) waitFor(tb testing.TB, what string, cond func(ctx context.Context) (bool, string)) {
	tb.Helper()
	var last string
	held := false
	defer func() {
		if !held {
			tb.Logf("kubetest: last seen while waiting for %s: %s\n%s", what, last, cp.failure())
		}
	}()
	testkit.WaitFor(tb, waitLimit, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, seen := cond(ctx)
		last = seen
		return ok
	})
	held = true
}

// ctx is a context for one call to the apiserver.
func callCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
