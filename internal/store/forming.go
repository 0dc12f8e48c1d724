package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// Forming a cluster's next batch, in three steps: BeginForming takes the
// cluster's lease for the forming (one worker at a time looks at its waiting
// requests) and reads them; the caller picks the batch (removal.PickMembers,
// no Redis) and takes the call's rate-limit slot; Form writes the batch,
// provided nothing it was picked from changed. Nothing is written while the
// caller picks or waits, and nothing watches the waiting set: a request
// that arrives meanwhile joins the next batch instead of spoiling this one.

// Forming is a cluster's waiting requests as read to form its next batch,
// with the forming lease that lets this caller form it.
type Forming struct {
	Project, Cluster string
	// Token holds the cluster's lease while the batch forms.
	Token string
	// IDs are the cluster's waiting requests, oldest first (at most
	// removal.MaxNodes of them: a batch cannot hold more).
	IDs []string
	// Records are the records of IDs that exist and could be read.
	Records map[string]*removal.Record
	raws    map[string]string
	shapes  map[string]removal.Shape // of Records as read, for their events
	// JobTimes, when asked for, are how long the cluster's recent jobs
	// took, read with the rest (see TypicalJobDuration).
	JobTimes *JobTimes
	// Paused, read with the rest, is what pauses the cluster; nil when
	// nothing does (see PausedFor).
	Paused *Pause
	// Settings are the cluster's own guardrail settings, and Disruption
	// how its budget is used, read with the rest (ReadWaiting reads the
	// budget again).
	Settings   removal.ClusterSettings
	Disruption removal.Disruption
	// Admit, set by the caller before Form, are the requests admitted to
	// the budget with the batch (removal.Admission.Added): Form writes them
	// only if no other admission came in since Disruption was read.
	Admit map[string][]string
}

// JobTimes is a cluster's typical job duration; Known is false without
// history.
type JobTimes struct {
	Typical time.Duration
	Known   bool
}

// BeginForming reads request id (of the given cluster) and, in the same
// round trip, takes the cluster's lease to form its next batch for ttl,
// reads the cluster's waiting requests, whether it is paused and, with
// jobTimes, how long its recent jobs took. The Forming is nil when the request is not queued, or
// is queued to be drained first (there is nothing to form for it: the
// lease is not kept); an error
// wrapping *BusyError says another batch or worker has the cluster. A
// request of an earlier version that is not in the waiting set is put there.
func (s *Store) BeginForming(ctx context.Context, id, project, cluster string, ttl time.Duration, jobTimes bool) (*removal.Record, *Forming, error) {
	token := formingPrefix + uuid.NewString()
	var get *redis.StringCmd
	var take *redis.Cmd
	var waiting *redis.StringSliceCmd
	var times [2]*redis.StringSliceCmd
	var paused *redis.SliceCmd
	var settings *redis.StringCmd
	var budget *redis.MapStringStringCmd
	read := func(byHash bool) {
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, requestKey(id))
			keys, args := []string{leaseKey(project, cluster)}, []any{token, ttl.Milliseconds(), ""}
			if byHash {
				take = takeFormingScript.EvalSha(ctx, p, keys, args...)
			} else {
				take = takeFormingScript.Eval(ctx, p, keys, args...)
			}
			waiting = p.ZRange(ctx, waitingKey(project, cluster), 0, removal.MaxNodes-1)
			paused = readPause(ctx, p, cluster)
			settings = readSettings(ctx, p, cluster)
			budget = readBudget(ctx, p, project, cluster)
			if jobTimes {
				times = readJobTimes(ctx, p, project, cluster)
			}
			return nil
		})
	}
	read(true)
	if redis.HasErrorPrefix(take.Err(), "NOSCRIPT") { // Redis forgot it (a restart): send it whole
		read(false)
	}
	res, terr := take.Slice()
	if terr != nil {
		return nil, nil, fmt.Errorf("take lease of cluster %s: %w", cluster, terr)
	}
	taken := res[0].(int64) == 1
	raw, err := get.Result()
	var r removal.Record
	switch {
	case errors.Is(err, redis.Nil):
		err = removal.ErrNotFound
	case err == nil:
		_, err = decode(raw, requestKey(id), &r)
	}
	if err == nil && (r.State != removal.StateQueued || r.NeedsDrain() || r.ProjectID != project || r.ClusterID != cluster) {
		if taken {
			err = s.releaseLease(ctx, project, cluster, token)
		}
		return &r, nil, err
	}
	if err != nil {
		if taken {
			_ = s.releaseLease(ctx, project, cluster, token)
		}
		return nil, nil, fmt.Errorf("get request %s: %w", id, err)
	}
	if !taken {
		if token, err = s.takeOver(ctx, project, cluster, ttl, busyOf(cluster, res)); err != nil {
			return &r, nil, err
		}
	}
	f := &Forming{Project: project, Cluster: cluster, Token: token,
		Records: map[string]*removal.Record{id: &r}, raws: map[string]string{id: raw},
		shapes: map[string]removal.Shape{id: r.Shape()}}
	vals, perr := paused.Result()
	if perr == nil {
		f.Paused, perr = pauseOf(cluster, vals)
	}
	if perr == nil {
		f.Settings, perr = settingsOf(settings)
	}
	if perr == nil {
		f.Disruption, perr = budgetOf(project, cluster, budget)
	}
	if perr != nil {
		_ = s.ReleaseForming(ctx, f)
		return nil, nil, perr
	}
	if jobTimes {
		if d, ok, err := typicalOf(times); err == nil {
			f.JobTimes = &JobTimes{Typical: d, Known: ok}
		}
	}
	if f.IDs, err = waiting.Result(); err != nil {
		_ = s.ReleaseForming(ctx, f)
		return nil, nil, fmt.Errorf("read waiting requests of cluster %s: %w", cluster, err)
	}
	if !slices.Contains(f.IDs, id) && len(f.IDs) < removal.MaxNodes {
		if err := s.ensureWaiting(ctx, &r); err != nil {
			_ = s.ReleaseForming(ctx, f)
			return nil, nil, err
		}
		f.IDs = append(f.IDs, id) // the newest place is as good as any: it waits its turn
	}
	if err := s.readForming(ctx, f, false); err != nil {
		_ = s.ReleaseForming(ctx, f)
		return nil, nil, err
	}
	return &r, f, nil
}

// ReadWaiting reads f's cluster's waiting requests and their records again,
// after Form found them changed.
func (s *Store) ReadWaiting(ctx context.Context, f *Forming) error {
	var waiting *redis.StringSliceCmd
	var budget *redis.MapStringStringCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		waiting = p.ZRange(ctx, waitingKey(f.Project, f.Cluster), 0, removal.MaxNodes-1)
		budget = readBudget(ctx, p, f.Project, f.Cluster)
		return nil
	})
	ids, err := waiting.Result()
	if err != nil {
		return fmt.Errorf("read waiting requests of cluster %s: %w", f.Cluster, err)
	}
	if f.Disruption, err = budgetOf(f.Project, f.Cluster, budget); err != nil {
		return err
	}
	f.IDs, f.Admit = ids, nil
	return s.readForming(ctx, f, true)
}

// readForming reads the records of f.IDs not read yet (all of them, when
// again).
func (s *Store) readForming(ctx context.Context, f *Forming, again bool) error {
	if again {
		f.Records, f.raws, f.shapes = map[string]*removal.Record{}, map[string]string{}, map[string]removal.Shape{}
	}
	var missing []string
	for _, id := range f.IDs {
		if _, ok := f.Records[id]; !ok {
			missing = append(missing, id)
		}
	}
	recs, raws, err := s.readRecords(ctx, missing)
	if err != nil {
		return fmt.Errorf("read waiting requests of cluster %s: %w", f.Cluster, err)
	}
	for id, r := range recs {
		f.Records[id], f.raws[id], f.shapes[id] = r, raws[id], r.Shape()
	}
	return nil
}

// Form writes what was picked from f: batch b (nil when nothing goes; its
// member records changed as changes say), the requests in changes that
// failed out of attempts, and the waiting entries in stale dropped. b takes
// the cluster's lease from the forming for leaseTTL. When a record picked
// from, or the forming lease, changed since f was read, nothing is written
// and the error is removal.ErrStale: read again and pick again.
func (s *Store) Form(ctx context.Context, f *Forming, b *removal.Batch, changes []removal.Change, stale []string, leaseTTL time.Duration) error {
	p := newPlan()
	lease := leaseKey(f.Project, f.Cluster)
	p.holds(lease, f.Token)
	admitCheck(p, f.Project, f.Cluster, f.Disruption, f.Admit)
	for _, c := range changes {
		id := c.Record.RequestID
		if f.raws[id] == "" {
			return fmt.Errorf("form batch for cluster %s: request %s was not read", f.Cluster, id)
		}
		p.holds(requestKey(id), f.raws[id])
	}
	var next *snapshot
	if b != nil {
		next = newSnapshot(b)
	}
	for _, c := range changes {
		raw, err := s.putRecord(p, f.shapes[c.Record.RequestID], c.Record)
		if err != nil {
			return err
		}
		moved(p, c.Record, c.From)
		if b != nil && b.Has(c.Record.RequestID) {
			next.add(c.Record, raw)
		}
	}
	for _, id := range stale {
		p.zrem(waitingKey(f.Project, f.Cluster), id)
	}
	if err := admitWrites(p, f.Project, f.Cluster, f.Admit); err != nil {
		return err
	}
	if b != nil {
		raw, err := s.putBatch(p, b)
		if err != nil {
			return err
		}
		next.rawBatch = raw
		p.set(lease, b.ID, leaseTTL)
	}
	_, err := p.run(ctx, s.rdb)
	switch {
	case errors.Is(err, errStalePlan):
		return fmt.Errorf("form batch for cluster %s: %w", f.Cluster, removal.ErrStale)
	case err != nil:
		return fmt.Errorf("form batch for cluster %s: %w", f.Cluster, err)
	}
	f.Admit = nil
	if b != nil {
		f.Token = "" // the batch holds the lease now
		s.snaps.keep(b.ID, next)
	}
	return nil
}

// ReleaseForming gives back f's forming lease if no batch took it.
func (s *Store) ReleaseForming(ctx context.Context, f *Forming) error {
	if f == nil || f.Token == "" {
		return nil
	}
	return s.releaseLease(ctx, f.Project, f.Cluster, f.Token)
}
