package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// The cluster lease: one key per cluster naming the batch whose RemoveNode
// call and job have the cluster, with an expiry. A worker forming the
// cluster's next batch holds it first (a "forming:" token), Form hands it to
// the batch, the worker renews it while the job runs, and the step that ends
// the batch gives it back. If every worker died, it expires and the cluster
// is free again (CCE itself refuses a second operation on a cluster while
// one runs).

// formingPrefix marks a lease held while a worker forms a cluster's next
// batch: only one worker at a time looks at a cluster's waiting requests
// (and asks the rate limiter for a slot for them).
const formingPrefix = "forming:"

// BusyError says a cluster is held by another batch (or worker), for about
// how long.
type BusyError struct {
	ClusterID string
	BatchID   string        // the holder
	Left      time.Duration // until its lease expires, unless renewed
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("cluster %s is busy with batch %s (lease %v left)", e.ClusterID, e.BatchID, e.Left.Round(time.Millisecond))
}

// Forming reports whether the holder is a worker forming the next batch
// (a moment), not a batch.
func (e *BusyError) Forming() bool { return strings.HasPrefix(e.BatchID, formingPrefix) }

// releaseLeaseSource deletes KEYS[1] if it holds ARGV[1].
// KEYS[1]: the lease. ARGV[1]: its holder.
const releaseLeaseSource = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// renewLeaseSource sets the expiry of KEYS[1] to ARGV[2] ms if it holds ARGV[1].
// KEYS[1]: the lease. ARGV[1]: its holder; ARGV[2]: the new lifetime in ms.
const renewLeaseSource = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`

// holdLeaseSource takes KEYS[1] for ARGV[1] for ARGV[2] ms if it is free or
// already ARGV[1]'s; otherwise it returns the holder and its time left.
// KEYS[1]: the lease. ARGV[1]: the batch; ARGV[2]: lifetime in ms.
const holdLeaseSource = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], tonumber(ARGV[2])}
end
return {0, cur, redis.call('PTTL', KEYS[1])}`

// takeFormingSource takes KEYS[1] for ARGV[1] for ARGV[2] ms when it is free,
// or when it still holds ARGV[3] (a holder found to be over); otherwise it
// returns the holder and its time left.
// KEYS[1]: the lease. ARGV[1]: the forming token; ARGV[2]: lifetime in ms;
// ARGV[3]: a holder that may be replaced, or "".
const takeFormingSource = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, '', 0}
end
return {0, cur, redis.call('PTTL', KEYS[1])}`

var (
	releaseLeaseScript = redis.NewScript(releaseLeaseSource)
	renewLeaseScript   = redis.NewScript(renewLeaseSource)
	holdLeaseScript    = redis.NewScript(holdLeaseSource)
	takeFormingScript  = redis.NewScript(takeFormingSource)
)

// busyOf reads the answer {0, holder, ms left} of holdLease or takeForming.
func busyOf(cluster string, res []any) *BusyError {
	holder, _ := res[1].(string)
	left, _ := res[2].(int64)
	return &BusyError{ClusterID: cluster, BatchID: holder, Left: time.Duration(left) * time.Millisecond}
}

// takeOver takes a cluster's lease to form its next batch, after a try
// found it held (busy), and returns the forming's token. A lease held by a
// batch that has ended (its release was lost) does not count; any other
// holder makes the error a *BusyError.
func (s *Store) takeOver(ctx context.Context, project, cluster string, ttl time.Duration, busy *BusyError) (string, error) {
	token := formingPrefix + uuid.NewString()
	key := leaseKey(project, cluster)
	for range 3 {
		stale := ""
		if busy != nil {
			if busy.Forming() {
				return "", busy
			}
			var b removal.Batch
			switch err := s.getJSON(ctx, batchKey(busy.BatchID), &b); {
			case errors.Is(err, removal.ErrNotFound), err == nil && b.State == removal.BatchDone:
				stale = busy.BatchID // its release was lost: take it over
			case err != nil:
				return "", err
			default:
				return "", busy
			}
		}
		res, err := takeFormingScript.Run(ctx, s.rdb, []string{key}, token, ttl.Milliseconds(), stale).Slice()
		if err != nil {
			return "", fmt.Errorf("take lease of cluster %s: %w", cluster, err)
		}
		if res[0].(int64) == 1 {
			return token, nil
		}
		busy = busyOf(cluster, res)
	}
	return "", fmt.Errorf("take lease of cluster %s: its holder keeps changing", cluster)
}

// HoldLease gives b its cluster's lease for ttl, when the lease is free or
// b's already; otherwise the error is a *BusyError.
func (s *Store) HoldLease(ctx context.Context, b *removal.Batch, ttl time.Duration) error {
	res, err := holdLeaseScript.Run(ctx, s.rdb, []string{leaseKey(b.ProjectID, b.ClusterID)}, b.ID, ttl.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("hold lease of cluster %s: %w", b.ClusterID, err)
	}
	if res[0].(int64) == 1 {
		return nil
	}
	return busyOf(b.ClusterID, res)
}

// RenewLease extends b's cluster lease to ttl from now; false when b does
// not hold it any more.
func (s *Store) RenewLease(ctx context.Context, b *removal.Batch, ttl time.Duration) (bool, error) {
	n, err := renewLeaseScript.Run(ctx, s.rdb, []string{leaseKey(b.ProjectID, b.ClusterID)}, b.ID, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease of cluster %s: %w", b.ClusterID, err)
	}
	return n == 1, nil
}

func (s *Store) releaseLease(ctx context.Context, project, cluster, holder string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, []string{leaseKey(project, cluster)}, holder).Err(); err != nil {
		return fmt.Errorf("release lease of cluster %s: %w", cluster, err)
	}
	return nil
}
