package worker

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/internal/ratelimit"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// What the worker needs of the store and the rate limits, one small
// interface per concern; *store.Store and *ratelimit.Limiter have them.

// records reads requests, and ends those the lifecycle cannot carry on.
type records interface {
	Get(ctx context.Context, id string) (*removal.Record, error)
	GetMany(ctx context.Context, ids []string) (map[string]*removal.Record, error)
	Abandon(ctx context.Context, id, reason string) (*removal.Record, *removal.Change, error)
	OpenSince(ctx context.Context, from, to time.Time, limit int) ([]string, time.Time, error)
	TrimIndex(ctx context.Context) error
	DrainStep(ctx context.Context, id string, results map[string]removal.NodeDrainResult) (*removal.Record, *removal.Change, error)
	Uncordoned(ctx context.Context, id string, names []string) (*removal.Record, error)
}

// KubeAccess gives a client for a cluster's Kubernetes API, the cluster of
// a project of a region (its kubeconfig is that region's CCE's to issue);
// *kube.Access has it.
type KubeAccess interface {
	Enabled() bool
	Client(ctx context.Context, region, projectID, clusterID string) (kubernetes.Interface, error)
}

// batches forms batches and writes each step of their life.
type batches interface {
	BeginForming(ctx context.Context, id, project, cluster string, ttl time.Duration, jobTimes bool) (*removal.Record, *store.Forming, error)
	ReadWaiting(ctx context.Context, f *store.Forming) error
	Form(ctx context.Context, f *store.Forming, b *removal.Batch, changes []removal.Change, stale []string, leaseTTL time.Duration) error
	ReleaseForming(ctx context.Context, f *store.Forming) error
	GetBatch(ctx context.Context, id string) (*removal.Batch, error)
	Step(ctx context.Context, seen *removal.Batch, ev removal.Event, in removal.Input) (store.Result, error)
	EndJob(ctx context.Context, seen *removal.Batch, in removal.Input, took time.Duration) (store.Result, error)
}

// leases are the cluster lease a batch holds and the claim of the task
// that reconciles it.
type leases interface {
	HoldLease(ctx context.Context, b *removal.Batch, ttl time.Duration) error
	RenewLease(ctx context.Context, b *removal.Batch, ttl time.Duration) (bool, error)
	ClaimReconcile(ctx context.Context, id string, ttl time.Duration) (string, time.Duration, error)
	ReleaseReconcile(ctx context.Context, id, token string) error
}

// jobHistory says how long a cluster's recent jobs took.
type jobHistory interface {
	TypicalJobDuration(ctx context.Context, project, cluster string) (time.Duration, bool, error)
}

// limiter is one shared CCE rate limit.
type limiter interface {
	Take(ctx context.Context, maxWait time.Duration) (*ratelimit.Slot, time.Duration, error)
	Throttled(ctx context.Context, retryAfter time.Duration) error
	Succeeded(ctx context.Context)
}

// inlineWait is how long a handler waits in place for a rate-limit slot.
// asynq runs a task again only at whole seconds, and all tasks told to wait
// for a slot would then ask at the same moment: so a wait shorter than that
// is waited out in the handler (holding no Redis connection), and only
// longer ones go back to the queue.
const inlineWait = time.Second

// markers are the marker that says Redis still holds what the workers
// wrote, and the loss of its data no operator has acknowledged.
type markers interface {
	EnsureMarker(ctx context.Context) (*store.Marker, bool, error)
	Marker(ctx context.Context) (*store.Marker, error)
	NoticeLoss(ctx context.Context, seen store.Marker) (*store.LossNotice, error)
	DataLoss(ctx context.Context) (*store.DataLoss, error)
	PublishDataLoss(ctx context.Context, loss store.DataLoss) error
}
