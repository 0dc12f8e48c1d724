package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// Per-cluster guardrail settings, set at run time: the hash clustersKey
// holds, for each cluster that sets any, the JSON of its
// removal.ClusterSettings. Workers read a cluster's with the rest of what
// forming a batch reads, and before a drain starts.

// clustersKey is the hash of the clusters' settings.
const clustersKey = keyPrefix + "clusters"

// ClusterSettings reads what cluster sets for itself (nothing: the zero
// settings).
func (s *Store) ClusterSettings(ctx context.Context, cluster string) (removal.ClusterSettings, error) {
	return settingsOf(s.rdb.HGet(ctx, clustersKey, cluster))
}

// readSettings adds to pipeline p the read settingsOf takes.
func readSettings(ctx context.Context, p redis.Pipeliner, cluster string) *redis.StringCmd {
	return p.HGet(ctx, clustersKey, cluster)
}

// settingsOf reads a cluster's field of the settings hash.
func settingsOf(cmd *redis.StringCmd) (removal.ClusterSettings, error) {
	raw, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return removal.ClusterSettings{}, nil
	}
	cluster := ""
	if args := cmd.Args(); len(args) > 2 {
		cluster, _ = args[2].(string)
	}
	if err != nil {
		return removal.ClusterSettings{}, fmt.Errorf("read the settings of cluster %s: %w", cluster, err)
	}
	cs, err := removal.DecodeClusterSettings([]byte(raw))
	if err != nil {
		return removal.ClusterSettings{}, fmt.Errorf("read the settings of cluster %s: %s holds %q, not settings: %w", cluster, clustersKey, raw, err)
	}
	return cs, nil
}

// SetClusterSettings replaces what cluster sets for itself (settings that
// set nothing take the field away). Invalid settings write nothing.
func (s *Store) SetClusterSettings(ctx context.Context, cluster string, cs removal.ClusterSettings) error {
	if err := cs.Validate(); err != nil {
		return err
	}
	if cs.Empty() {
		return s.rdb.HDel(ctx, clustersKey, cluster).Err()
	}
	raw, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	return s.rdb.HSet(ctx, clustersKey, cluster, raw).Err()
}

// UpdateClusterSettings changes what cluster sets for itself by f, safe
// against other writers (read again and f again when one came in between).
// An error of f, or invalid settings, writes nothing.
func (s *Store) UpdateClusterSettings(ctx context.Context, cluster string, f func(*removal.ClusterSettings) error) (removal.ClusterSettings, error) {
	var out removal.ClusterSettings
	for range planTries {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cs, err := settingsOf(tx.HGet(ctx, clustersKey, cluster))
			if err != nil {
				return err
			}
			if err := f(&cs); err != nil {
				return err
			}
			if err := cs.Validate(); err != nil {
				return err
			}
			out = cs
			return putSettings(ctx, tx, cluster, cs)
		}, clustersKey)
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return removal.ClusterSettings{}, fmt.Errorf("update the settings of cluster %s: gave up after %d tries: they keep changing", cluster, planTries)
}

// putSettings writes cs in a transaction of tx.
func putSettings(ctx context.Context, tx *redis.Tx, cluster string, cs removal.ClusterSettings) error {
	raw, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if cs.Empty() {
			p.HDel(ctx, clustersKey, cluster)
		} else {
			p.HSet(ctx, clustersKey, cluster, raw)
		}
		return nil
	})
	return err
}
