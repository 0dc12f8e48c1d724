package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// How long recent CCE jobs took, per cluster and over all clusters, so the
// first poll of a job can come when jobs like it usually end. EndJob
// records them, with the step that ends the batch.

const (
	jobTimesKept = 10                 // durations kept per list
	jobTimesTTL  = 7 * 24 * time.Hour // a list not written for a week is forgotten
)

func jobTimesKey(project, cluster string) string {
	return keyPrefix + "jobtimes:" + project + ":" + cluster
}

const jobTimesAllKey = keyPrefix + "jobtimes"

// TypicalJobDuration is the median duration of the cluster's recent jobs,
// or of all clusters' when the cluster has none; ok is false with no history.
func (s *Store) TypicalJobDuration(ctx context.Context, project, cluster string) (d time.Duration, ok bool, err error) {
	var lists [2]*redis.StringSliceCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		lists = readJobTimes(ctx, p, project, cluster)
		return nil
	})
	return typicalOf(lists)
}

// readJobTimes queues the reads of a cluster's job times and everyone's.
func readJobTimes(ctx context.Context, p redis.Pipeliner, project, cluster string) [2]*redis.StringSliceCmd {
	return [2]*redis.StringSliceCmd{p.LRange(ctx, jobTimesKey(project, cluster), 0, -1), p.LRange(ctx, jobTimesAllKey, 0, -1)}
}

// typicalOf is the median of the cluster's job times, else of everyone's.
func typicalOf(lists [2]*redis.StringSliceCmd) (time.Duration, bool, error) {
	for _, l := range lists {
		vals, err := l.Result()
		if err != nil {
			return 0, false, fmt.Errorf("read job durations: %w", err)
		}
		if m, ok := median(vals); ok {
			return m, true, nil
		}
	}
	return 0, false, nil
}

func median(vals []string) (time.Duration, bool) {
	var ms []int64
	for _, v := range vals {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			ms = append(ms, n)
		}
	}
	if len(ms) == 0 {
		return 0, false
	}
	slices.Sort(ms)
	return time.Duration(ms[len(ms)/2]) * time.Millisecond, true
}
