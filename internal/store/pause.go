package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// The pause switch: a hash of what is paused, field "*" for everything and
// a cluster id for one cluster, each with when it was paused (Unix ms).
// Workers read it before they start a request's drain or its RemoveNode
// call; nothing already accepted by CCE is held back.

// pausedKey holds what is paused.
const pausedKey = keyPrefix + "paused"

// AllClusters is the pause switch of every cluster.
const AllClusters = "*"

// Pause pauses cluster (AllClusters: every cluster). Pausing what is
// paused keeps its first time.
func (s *Store) Pause(ctx context.Context, cluster string) error {
	if err := s.rdb.HSetNX(ctx, pausedKey, cluster, s.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("pause %s: %w", cluster, err)
	}
	return nil
}

// Resume lifts the pause of cluster (AllClusters: the pause of everything;
// clusters paused one by one stay paused).
func (s *Store) Resume(ctx context.Context, cluster string) error {
	if err := s.rdb.HDel(ctx, pausedKey, cluster).Err(); err != nil {
		return fmt.Errorf("resume %s: %w", cluster, err)
	}
	return nil
}

// Paused lists what is paused, cluster id (or AllClusters) to since when.
func (s *Store) Paused(ctx context.Context) (map[string]time.Time, error) {
	raw, err := s.rdb.HGetAll(ctx, pausedKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read what is paused: %w", err)
	}
	out := make(map[string]time.Time, len(raw))
	for k, v := range raw {
		var ms int64
		if _, err := fmt.Sscan(v, &ms); err != nil {
			return nil, fmt.Errorf("read what is paused: %s holds %q, not a time", k, v)
		}
		out[k] = time.UnixMilli(ms).UTC()
	}
	return out, nil
}

// Pause is what holds a cluster: its own switch or the one of everything
// (Scope is the cluster id or AllClusters), on since Since.
type Pause struct {
	Scope string
	Since time.Time
}

// PausedFor says whether cluster is paused, by its own switch or by the
// one of everything; nil when it is not.
func (s *Store) PausedFor(ctx context.Context, cluster string) (*Pause, error) {
	vals, err := s.rdb.HMGet(ctx, pausedKey, AllClusters, cluster).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read whether %s is paused: %w", cluster, err)
	}
	return pauseOf(cluster, vals)
}

// readPause adds to pipeline p the read pauseOf takes.
func readPause(ctx context.Context, p redis.Pipeliner, cluster string) *redis.SliceCmd {
	return p.HMGet(ctx, pausedKey, AllClusters, cluster)
}

// pauseOf reads the values of fields AllClusters and cluster of the pause
// hash: the pause of everything first.
func pauseOf(cluster string, vals []any) (*Pause, error) {
	for i, scope := range []string{AllClusters, cluster} {
		if i >= len(vals) {
			break
		}
		v, ok := vals[i].(string)
		if !ok {
			continue
		}
		var ms int64
		if _, err := fmt.Sscan(v, &ms); err != nil {
			return nil, fmt.Errorf("read whether %s is paused: %q is not a time", cluster, v)
		}
		return &Pause{Scope: scope, Since: time.UnixMilli(ms).UTC()}, nil
	}
	return nil, nil
}

// Hold notes on the records of ids why they wait ("" lifts the note),
// each written only when it changes: one read when none does.
func (s *Store) Hold(ctx context.Context, why string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	recs, _, err := s.readRecords(ctx, ids)
	if err != nil {
		return fmt.Errorf("hold requests: %w", err)
	}
	for _, id := range ids {
		if r := recs[id]; r == nil || r.Waiting == why || r.State.Final() {
			continue
		}
		_, _, err := s.update(ctx, "hold request "+id, id, func(r *removal.Record) (bool, error) {
			return removal.Hold(r, why, s.now()), nil
		})
		if err != nil && !errors.Is(err, removal.ErrNotFound) {
			return err
		}
	}
	return nil
}
