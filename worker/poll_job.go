package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// pollMaxRetry bounds runs of one poll task that keep failing (Redis down);
// a poll that cannot reach CCE schedules the next one instead of failing.
const pollMaxRetry = 100

// handlePollJob looks at a batch's CCE job once (node:remove:poll): when it
// is final the batch ends with each node's outcome (job-ended), when it
// runs past POLL_TIMEOUT or CCE forgot it the batch's requests fail
// (job-lost), otherwise the poll is counted (polled) and the next one
// scheduled.
func (w *Server) handlePollJob(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodePollJob(t.Payload())
	if err != nil {
		w.log.Error().Err(err).Str("task", t.Type()).Msg("archiving task with an undecodable payload")
		return err
	}
	// The payload says which batch, job and poll this is; the lifecycle's
	// guards check it against Redis, so a stale or duplicate poll changes
	// nothing.
	seen := &removal.Batch{ID: p.BatchID, ProjectID: p.ProjectID, ClusterID: p.ClusterID, Region: p.Region, JobID: p.JobID, Polls: p.Poll}
	for _, id := range p.RequestIDs {
		seen.Members = append(seen.Members, removal.Member{RequestID: id})
	}
	// While CCE refuses the worker's credentials the job's end cannot be
	// seen: that is not the job's fault (the grace bounds it, below).
	if !p.AcceptedAt.IsZero() && w.now().Sub(p.AcceptedAt) > w.cfg.PollTimeout && w.credentialsProblem() == nil {
		return w.jobLost(ctx, seen, fmt.Sprintf("CCE job %s did not finish within POLL_TIMEOUT (%v); its outcome is unknown", p.JobID, w.cfg.PollTimeout))
	}
	if err := w.serves(seen.Region); err != nil { // the fleet's regions changed under a running job
		return w.jobLost(ctx, seen, fmt.Sprintf("%v; the outcome of CCE job %s is unknown", err, p.JobID))
	}
	w.dropPoll(p.BatchID, p.Poll-1) // only a job's last poll is kept
	log := w.log.With().Str("batch_id", seen.ID).Str("cluster_id", seen.ClusterID).Str("job_id", seen.JobID).Int("poll", p.Poll).Logger()
	reads := w.limitsOf(seen.Region, seen.ProjectID).reads
	_, d, err := reads.Take(ctx, inlineWait)
	if err != nil || d > 0 {
		return errors.Join(err, wait(d, "ShowJob rate limit"))
	}
	job, err := w.cceOf(seen.Region).ShowJob(ctx, seen.ProjectID, seen.JobID)
	switch {
	case err != nil && cce.IsNotFound(err):
		return w.jobLost(ctx, seen, fmt.Sprintf("CCE no longer knows job %s: %s", seen.JobID, failureReason(err)))
	case err != nil && cce.Classify(err) == cce.ClassCredentials:
		refused := w.refusedCredentials("ShowJob", err)
		var expired *credentialsExpired
		if errors.As(refused, &expired) {
			return w.jobLost(ctx, seen, expired.Reason())
		}
		return refused // the same poll again, once they work
	case err != nil:
		// Transient or not, the next poll may see it: POLL_TIMEOUT bounds it.
		if cce.Classify(err) == cce.ClassThrottled {
			if terr := reads.Throttled(ctx, retryAfter(err)); terr != nil {
				log.Warn().Err(terr).Msg("slow down the read rate")
			}
		}
		log.Warn().Err(err).Msg("poll failed; will poll again")
		return w.nextPoll(ctx, seen)
	case !job.Status.Phase.Final():
		log.Debug().Str("phase", string(job.Status.Phase)).Msg("job still running")
		return w.nextPoll(ctx, seen)
	}
	reads.Succeeded(ctx)
	took, ok := w.jobDuration(job, p)
	if !ok {
		took = 0
	}
	named, rest := NodeOutcomes(job, seen.JobID)
	res, err := w.batches.EndJob(ctx, seen, removal.Input{Now: w.now(), Outcomes: named, Rest: rest}, max(took, 0))
	if errors.Is(err, removal.ErrStale) || errors.Is(err, removal.ErrNotFound) {
		return nil // ended already, or expired with its requests
	}
	if err != nil {
		return err
	}
	if ok {
		w.jobTimes.forget(seen.ProjectID, seen.ClusterID)
	}
	w.cfg.Metrics.JobPolls(res.Batch.Polls + 1)
	w.recordChanges(res.Batch, res.Changes, "CCE job ended")
	w.kickNext(res) // the cluster is free: its next batch may go
	if failed := w.jobResult(t, res.Batch, res.Changes); failed != "" {
		// Recorded in full; archived so that asynqmon lists the failure.
		return archiveOutcome("CCE job %s ended: %s", seen.JobID, failed)
	}
	return nil
}

// jobLost fails every open node of the batch for reason.
func (w *Server) jobLost(ctx context.Context, seen *removal.Batch, reason string) error {
	_, err := w.stepBatch(ctx, seen, removal.EventJobLost, removal.Input{Now: w.now(), Reason: reason}, "CCE job lost")
	if errors.Is(err, removal.ErrStale) || errors.Is(err, removal.ErrNotFound) {
		return nil
	}
	return err
}

// nextPoll counts poll seen.Polls of the batch and schedules the next one.
// A copy of an older poll only makes sure the current one is scheduled.
func (w *Server) nextPoll(ctx context.Context, seen *removal.Batch) error {
	res, err := w.batches.Step(ctx, seen, removal.EventPolled, removal.Input{Now: w.now()})
	switch cur := res.Batch; {
	case errors.Is(err, removal.ErrStale) && cur != nil && removal.Allows(cur, &removal.Batch{JobID: seen.JobID, Polls: cur.Polls}, removal.EventPolled):
		// A copy of an older poll: the job is still polled, at another number.
		return w.ensurePoll(ctx, cur)
	case errors.Is(err, removal.ErrStale) || errors.Is(err, removal.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	nb := res.Batch
	if held, err := w.leases.RenewLease(ctx, nb, w.pollLease(w.pollDelay(nb.Polls))); err == nil && !held {
		w.log.Warn().Str("batch_id", nb.ID).Str("cluster_id", nb.ClusterID).Str("job_id", nb.JobID).
			Msg("the cluster lease of a running job expired; another batch may be refused by CCE until the job ends")
	}
	return w.ensurePoll(ctx, nb)
}

// ensurePoll makes sure the batch's current poll (number b.Polls) is
// scheduled; scheduling it twice makes one task.
func (w *Server) ensurePoll(ctx context.Context, b *removal.Batch) error {
	first := time.Duration(0)
	if b.Polls == 0 {
		first = w.firstPollDelay(ctx, b.ProjectID, b.ClusterID)
	}
	return w.schedulePoll(ctx, b, first)
}

// schedulePoll is ensurePoll with the first poll's delay known.
func (w *Server) schedulePoll(ctx context.Context, b *removal.Batch, first time.Duration) error {
	delay := w.pollDelay(b.Polls)
	if b.Polls == 0 {
		delay = first
		if b.AcceptedAt != nil {
			delay -= w.now().Sub(*b.AcceptedAt)
		}
	}
	t, err := tasks.NewPollJob(tasks.PollJob{
		BatchID: b.ID, ProjectID: b.ProjectID, ClusterID: b.ClusterID, Region: b.Region, JobID: b.JobID,
		RequestIDs: b.RequestIDs(), Poll: b.Polls, AcceptedAt: derefTime(b.AcceptedAt),
	}, processAt(time.Now(), max(delay, 0), b.Polls == 0 && first >= time.Second), asynq.MaxRetry(pollMaxRetry), asynq.Timeout(2*w.cfg.CCETimeout))
	if err != nil {
		return err
	}
	if _, err := w.queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule poll %d of job %s: %w", b.Polls, b.JobID, err)
	}
	return nil
}

// jobDuration is how long a job that just ended took: from its timestamps,
// else half-way between the poll that saw it running and this one. A job
// already over at its first poll without timestamps says only that it took
// less than that; it is not recorded, or first polls would drift later and
// later.
func (w *Server) jobDuration(job *cce.Job, p tasks.PollJob) (time.Duration, bool) {
	if d, ok := job.Duration(); ok {
		return d, true
	}
	if p.Poll == 0 || p.AcceptedAt.IsZero() {
		return 0, false
	}
	return w.now().Sub(p.AcceptedAt) - w.pollDelay(p.Poll)/2, true
}

// firstPollDelay is the wait before a job's first poll: how long recent jobs
// of its cluster took (or of all clusters), so that a typical job needs few
// polls; POLL_FIRST_DELAY without history.
func (w *Server) firstPollDelay(ctx context.Context, project, cluster string) time.Duration {
	d, ok := w.jobTimes.typical(ctx, w.history, project, cluster)
	if !ok {
		return w.cfg.PollFirstDelay
	}
	return min(d, w.cfg.PollTimeout)
}

// pollDelay is the wait before poll n after the first: intervals growing by
// half each time from the minimum to the maximum.
func (w *Server) pollDelay(n int) time.Duration {
	if n == 0 {
		return w.cfg.PollFirstDelay
	}
	d := float64(w.cfg.PollIntervalMin) * math.Pow(1.5, float64(n-1))
	return min(time.Duration(min(d, math.MaxInt64/2)), w.cfg.PollIntervalMax)
}

// processAt schedules a task d from now, on asynq's clock (the real one, not
// Config.Now: a clock a test steps must not move the queue's schedule).
// asynq keeps whole seconds and may
// run a task up to one early; the first poll of a job, aimed at the moment
// jobs like it end, is rounded up instead (when jobs take a second or more)
// so that it does not come early and find the job still running.
func processAt(now time.Time, d time.Duration, notEarly bool) asynq.Option {
	at := now.Add(d)
	if notEarly && at.Truncate(time.Second) != at {
		at = at.Truncate(time.Second).Add(time.Second)
	}
	return asynq.ProcessAt(at)
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
