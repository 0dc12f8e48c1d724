package removal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/redis/go-redis/v9"
)

// The cluster lease: one key per cluster naming the batch whose RemoveNode
// call and job have the cluster, with an expiry. FormBatch takes it; the
// worker renews it while the job runs; a batch that ends gives it back. If
// every worker died, it expires and the cluster is free again (CCE itself
// refuses a second operation on a cluster while one runs).

// releaseSource deletes KEYS[1] if it holds ARGV[1].
const releaseLeaseSource = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// renewSource sets the expiry of KEYS[1] to ARGV[2] ms if it holds ARGV[1].
const renewLeaseSource = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`

// holdSource takes KEYS[1] for ARGV[1] for ARGV[2] ms if it is free or
// already ARGV[1]'s; otherwise it returns the holder and its time left.
const holdLeaseSource = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], tonumber(ARGV[2])}
end
return {0, cur, redis.call('PTTL', KEYS[1])}`

var (
	renewLeaseScript = redis.NewScript(renewLeaseSource)
	holdLeaseScript  = redis.NewScript(holdLeaseSource)
)

// releaseLease queues in p the release of b's cluster lease, if b holds it.
func releaseLease(ctx context.Context, p redis.Pipeliner, b *Batch) {
	p.Eval(ctx, releaseLeaseSource, []string{leaseKey(b.ProjectID, b.ClusterID)}, b.ID)
}

// BusyError says a cluster is held by another batch, for about how long.
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

// ErrBusy matches every *BusyError.
var ErrBusy = errors.New("cluster busy")

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// HoldLease gives b its cluster's lease for ttl, when the lease is free or
// b's already; otherwise the error is a *BusyError.
func (s *Store) HoldLease(ctx context.Context, b *Batch, ttl time.Duration) error {
	res, err := holdLeaseScript.Run(ctx, s.rdb, []string{leaseKey(b.ProjectID, b.ClusterID)}, b.ID, ttl.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("hold lease of cluster %s: %w", b.ClusterID, err)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		return nil
	}
	holder, _ := res[1].(string)
	left, _ := res[2].(int64)
	return &BusyError{ClusterID: b.ClusterID, BatchID: holder, Left: time.Duration(left) * time.Millisecond}
}

// RenewLease extends b's cluster lease to ttl from now; false when b does
// not hold it any more.
func (s *Store) RenewLease(ctx context.Context, b *Batch, ttl time.Duration) (bool, error) {
	n, err := renewLeaseScript.Run(ctx, s.rdb, []string{leaseKey(b.ProjectID, b.ClusterID)}, b.ID, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease of cluster %s: %w", b.ClusterID, err)
	}
	return n == 1, nil
}

// LeaseHolder returns the batch holding a cluster's lease and its time
// left; "" when the cluster is free.
func (s *Store) LeaseHolder(ctx context.Context, project, cluster string) (string, time.Duration, error) {
	key := leaseKey(project, cluster)
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, key), p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read lease of cluster %s: %w", cluster, err)
	}
	return get.Val(), ttl.Val(), nil
}

// formingPrefix marks a lease held while a worker forms a cluster's next
// batch: only one worker at a time looks at a cluster's waiting requests
// (and asks the rate limiter for a slot for them).
const formingPrefix = "forming:"

// takeFormingSource takes KEYS[1] for ARGV[1] for ARGV[2] ms when it is free,
// or when it still holds ARGV[3] (a holder found to be over); otherwise it
// returns the holder and its time left.
const takeFormingSource = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, '', 0}
end
return {0, cur, redis.call('PTTL', KEYS[1])}`

var takeFormingScript = redis.NewScript(takeFormingSource)

// TakeForming takes a cluster's lease to form its next batch and returns the
// token to give FormBatch (in FormOptions.Token) and ReleaseForming. A lease
// held by a batch that has ended does not count; any other holder makes the
// error a *BusyError.
func (s *Store) TakeForming(ctx context.Context, project, cluster string, ttl time.Duration) (string, error) {
	token := formingPrefix + uuid.NewString()
	key := leaseKey(project, cluster)
	stale := ""
	for range 3 {
		res, err := takeFormingScript.Run(ctx, s.rdb, []string{key}, token, ttl.Milliseconds(), stale).Slice()
		if err != nil {
			return "", fmt.Errorf("take lease of cluster %s: %w", cluster, err)
		}
		if ok, _ := res[0].(int64); ok == 1 {
			return token, nil
		}
		holder, _ := res[1].(string)
		left, _ := res[2].(int64)
		busy := &BusyError{ClusterID: cluster, BatchID: holder, Left: time.Duration(left) * time.Millisecond}
		if strings.HasPrefix(holder, formingPrefix) {
			return "", busy
		}
		var b Batch
		switch err := s.getJSON(ctx, s.rdb, batchKey(holder), &b); {
		case errors.Is(err, ErrNotFound), err == nil && b.State == BatchDone:
			stale = holder // its release was lost: take it over
		case err != nil:
			return "", err
		default:
			return "", busy
		}
	}
	return "", fmt.Errorf("take lease of cluster %s: its holder keeps changing", cluster)
}

// ReleaseForming gives back a lease taken with TakeForming that no batch
// replaced.
func (s *Store) ReleaseForming(ctx context.Context, project, cluster, token string) error {
	err := s.rdb.Eval(ctx, releaseLeaseSource, []string{leaseKey(project, cluster)}, token).Err()
	if err != nil {
		return fmt.Errorf("release lease of cluster %s: %w", cluster, err)
	}
	return nil
}

// GetTakingForming reads request id and, in the same round trip, tries to
// take its cluster's lease to form the next batch, for the common case of a
// queued request whose task drives its cluster. token is "" when the lease
// was not taken (it is given back at once when the request is not queued).
func (s *Store) GetTakingForming(ctx context.Context, id, project, cluster string, ttl time.Duration) (*Record, string, error) {
	token := formingPrefix + uuid.NewString()
	var get *redis.StringCmd
	var take *redis.Cmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, requestKey(id))
		take = p.Eval(ctx, takeFormingSource, []string{leaseKey(project, cluster)}, token, ttl.Milliseconds(), "")
		return nil
	})
	res, err := take.Slice()
	if err != nil {
		return nil, "", fmt.Errorf("take lease of cluster %s: %w", cluster, err)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		token = ""
	}
	var r Record
	raw, err := get.Bytes()
	if err == nil {
		err = json.Unmarshal(raw, &r)
	} else if errors.Is(err, redis.Nil) {
		err = ErrNotFound
	}
	if err != nil || r.State != StateQueued || r.ProjectID != project || r.ClusterID != cluster {
		if token != "" {
			_ = s.ReleaseForming(ctx, project, cluster, token)
		}
		if err != nil {
			return nil, "", fmt.Errorf("get request %s: %w", id, err)
		}
		return &r, "", nil
	}
	return &r, token, nil
}
