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

// PausedFor says whether cluster is paused, by its own switch or by the
// one of everything, and since when; scope is the cluster id or
// AllClusters.
func (s *Store) PausedFor(ctx context.Context, cluster string) (scope string, since time.Time, paused bool, err error) {
	vals, err := s.rdb.HMGet(ctx, pausedKey, AllClusters, cluster).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", time.Time{}, false, fmt.Errorf("read whether %s is paused: %w", cluster, err)
	}
	for i, scope := range []string{AllClusters, cluster} {
		v, ok := vals[i].(string)
		if !ok {
			continue
		}
		var ms int64
		if _, err := fmt.Sscan(v, &ms); err != nil {
			return "", time.Time{}, false, fmt.Errorf("read whether %s is paused: %q is not a time", cluster, v)
		}
		return scope, time.UnixMilli(ms).UTC(), true, nil
	}
	return "", time.Time{}, false, nil
}

// Hold notes on request id's record why it waits ("" lifts the note),
// written only when it changes.
func (s *Store) Hold(ctx context.Context, id, why string) error {
	return again("hold request "+id, func() error {
		r, raw, err := s.readRecord(ctx, id)
		if err != nil {
			return err
		}
		if !removal.Hold(r, why, s.now()) {
			return nil
		}
		p := newPlan()
		p.holds(requestKey(id), raw)
		if _, err := s.putRecord(p, r); err != nil {
			return err
		}
		_, err = p.run(ctx, s.rdb)
		return err
	})
}
