package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

const (
	// listPage is how many ids List reads at a time.
	listPage = 200
	// listScan bounds the records List reads to find matches.
	listScan = 20000
)

// List returns the newest requests that match f, newest first (the same
// millisecond in descending order of id, as the index orders them). A
// corrupt record is left out (and reported), not an error for every caller.
func (s *Store) List(ctx context.Context, f removal.ListFilter) ([]*removal.Record, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = removal.DefaultListLimit
	}
	limit = min(limit, removal.MaxListLimit)
	rng := redis.ZRangeBy{Max: "+inf", Min: "-inf", Count: listPage}
	if !f.CreatedAfter.IsZero() {
		rng.Min = strconv.FormatInt(f.CreatedAfter.UnixMilli(), 10)
	}
	var cursor float64
	if f.Before != "" {
		score, err := s.rdb.ZScore(ctx, indexKey, f.Before).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return nil, &removal.InvalidError{Field: "before", Problem: fmt.Sprintf("request %q is not listed: never enqueued, or its record expired", removal.SafeFieldName(f.Before))}
		case err != nil:
			return nil, fmt.Errorf("list requests: %w", err)
		}
		cursor = score
		rng.Max = strconv.FormatFloat(score, 'f', -1, 64)
	}
	var out []*removal.Record
	for read := int64(0); read < listScan && len(out) < limit; read += listPage {
		rng.Offset = read
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, indexKey, &rng).Result()
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		if len(zs) == 0 {
			break
		}
		ids := make([]string, 0, len(zs))
		for _, z := range zs {
			id, _ := z.Member.(string)
			// Requests of the cursor's millisecond come in descending order of id:
			// those up to the cursor were on the page before.
			if f.Before != "" && z.Score == cursor && id >= f.Before {
				continue
			}
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			continue
		}
		recs, _, err := s.readRecords(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		for _, id := range ids {
			r := recs[id]
			if r == nil || (f.State != "" && r.State != f.State) || (f.ClusterID != "" && r.ClusterID != f.ClusterID) {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// OpenCount is the number of requests not final yet, across all workers.
func (s *Store) OpenCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, openKey).Result()
	if err != nil {
		return 0, fmt.Errorf("count open requests: %w", err)
	}
	return n, nil
}

// OldestOpen is when the oldest request not final yet was created, across
// all workers; ok is false when every request is final.
func (s *Store) OldestOpen(ctx context.Context) (created time.Time, ok bool, err error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, openKey, 0, 0).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read oldest open request: %w", err)
	}
	if len(zs) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(int64(zs[0].Score)), true, nil
}

// OpenSince returns up to limit ids of requests not final yet that were
// created after from and before to, oldest first, and when the last of them
// was created (for the next call's from).
func (s *Store) OpenSince(ctx context.Context, from, to time.Time, limit int) (ids []string, last time.Time, err error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, openKey, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(from.UnixMilli(), 10), Max: "(" + strconv.FormatInt(to.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list open requests: %w", err)
	}
	for _, z := range zs {
		id, _ := z.Member.(string)
		ids = append(ids, id)
		last = time.UnixMilli(int64(z.Score))
	}
	return ids, last, nil
}

// TrimIndex forgets index entries older than the records' lifetime: their
// records have expired.
func (s *Store) TrimIndex(ctx context.Context) error {
	p := newPlan()
	p.zremBelow(indexKey, s.now().Add(-s.ttl).UnixMilli())
	if _, err := p.run(ctx, s.rdb); err != nil {
		return fmt.Errorf("trim the request index: %w", err)
	}
	return nil
}
