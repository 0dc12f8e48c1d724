package worker

import (
	"context"
	"sync"
	"time"
)

// jobTimesFresh is how long a cluster's typical job time is taken from this
// process's memory before Redis is asked again; it changes slowly.
const jobTimesFresh = 30 * time.Second

// jobTimes remembers clusters' typical job times for a while.
type jobTimes struct {
	mu sync.Mutex
	m  map[string]typicalJob
}

type typicalJob struct {
	d       time.Duration
	ok      bool
	fetched time.Time
}

// typical returns the typical job time of a cluster (ok false with no
// history, or when Redis could not say).
func (j *jobTimes) typical(ctx context.Context, s jobHistory, project, cluster string) (time.Duration, bool) {
	key := project + "/" + cluster
	j.mu.Lock()
	t, hit := j.m[key]
	j.mu.Unlock()
	if hit && time.Since(t.fetched) < jobTimesFresh {
		return t.d, t.ok
	}
	d, ok, err := s.TypicalJobDuration(ctx, project, cluster)
	if err != nil {
		return 0, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil || len(j.m) > 10000 {
		j.m = make(map[string]typicalJob)
	}
	j.m[key] = typicalJob{d: d, ok: ok, fetched: time.Now()}
	return d, ok
}

// forget drops a cluster's remembered time after one of its jobs ended.
func (j *jobTimes) forget(project, cluster string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.m, project+"/"+cluster)
}
