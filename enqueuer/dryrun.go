package enqueuer

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// A dry run: what would happen if r were asked for now.
type (
	DryRun      = removal.DryRun
	NodeVerdict = removal.NodeVerdict
)

// Verdicts of a node in a dry run.
const (
	VerdictOK      = removal.VerdictOK
	VerdictBlocked = removal.VerdictBlocked
)

// ErrNoWorker matches the error of a dry run no worker answered in time.
var ErrNoWorker = store.ErrNoAnswer

// DefaultDryRunTimeout is how long Preflight waits for a worker's answer
// when ctx has no deadline of its own.
const DefaultDryRunTimeout = 30 * time.Second

// Preflight answers, without storing or changing anything, what would
// happen if r were enqueued now: for each node, ok or blocked with every
// reason (not in the cluster, its phase, busy in another request,
// protected, Pods that cannot be evicted and what would allow them, budgets
// that would block, counted over every Pod the request would evict, the
// cluster over its budget or minimum, paused, outside its windows). r is
// validated as Enqueue validates it; an invalid r is an error matching
// ErrInvalid. A worker answers (credentials stay with the workers): by
// ctx's deadline, or within DefaultDryRunTimeout, else an error matching
// ErrNoWorker.
func (c *Client) Preflight(ctx context.Context, r Request) (*DryRun, error) {
	req, err := c.Prepare(r)
	if err != nil {
		return nil, err
	}
	return c.PreflightPrepared(ctx, req)
}

// PreflightPrepared is Preflight of a request made by Prepare.
func (c *Client) PreflightPrepared(ctx context.Context, req Prepared) (*DryRun, error) {
	if err := c.resolveDrain(&req); err != nil {
		return nil, err
	}
	if err := c.resolveRegion(&req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultDryRunTimeout)
	}
	d, err := c.store.Ask(ctx, removal.Question{ID: uuid.NewString(), Deadline: deadline,
		ProjectID: req.ProjectID, ClusterID: req.ClusterID, Region: req.Region, Nodes: req.Nodes, Drain: req.Drain})
	if err != nil && !errors.Is(err, ErrNoWorker) {
		return nil, unavailable(err, leftNothingRead)
	}
	return d, err
}
