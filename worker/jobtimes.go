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
	if d, ok, hit := j.cached(project, cluster); hit {
		return d, ok
	}
	d, ok, err := s.TypicalJobDuration(ctx, project, cluster)
	if err != nil {
		return 0, false
	}
	j.remember(project, cluster, d, ok)
	return d, ok
}

// cached is a cluster's typical job time if it was read recently (hit).
func (j *jobTimes) cached(project, cluster string) (d time.Duration, ok, hit bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t, hit := j.m[project+"/"+cluster]
	if !hit || time.Since(t.fetched) >= jobTimesFresh {
		return 0, false, false
	}
	return t.d, t.ok, true
}

// remember keeps a cluster's typical job time, read just now.
func (j *jobTimes) remember(project, cluster string, d time.Duration, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil || len(j.m) > 10000 {
		j.m = make(map[string]typicalJob)
	}
	j.m[project+"/"+cluster] = typicalJob{d: d, ok: ok, fetched: time.Now()}
}

// forget drops a cluster's remembered time after one of its jobs ended.
func (j *jobTimes) forget(project, cluster string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.m, project+"/"+cluster)
}
