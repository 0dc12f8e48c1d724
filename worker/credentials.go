package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// When CCE refuses this worker's own credentials (a 401, a 403 that forbids
// the caller, no token to be had from IAM), the requests are not at fault:
// they wait without using an attempt, the worker is not ready, and an
// error is logged once per credentialsLogEvery; only after
// Config.CredentialsGrace of refusals does a request fail, with a reason
// that says it was the worker's credentials. A renewable source was already
// renewed once by the client before the refusal reached here.

// credentialsLogEvery spaces the error lines while credentials fail.
const credentialsLogEvery = time.Minute

// credentials is what this worker knows of its credentials at CCE.
type credentials struct {
	mu     sync.Mutex
	since  time.Time // the first refusal of the current run of them; zero while they work
	last   error
	logged time.Time
}

// credentialsRefused notes a refusal of op and returns what the handler
// returns: a wait, or once the grace is over, a *credentialsExpired.
func (w *Server) credentialsRefused(op string, err error) error {
	now := w.now()
	c := &w.creds
	c.mu.Lock()
	if c.since.IsZero() {
		c.since = now
	}
	since, logNow := c.since, now.Sub(c.logged) >= credentialsLogEvery
	c.last = err
	if logNow {
		c.logged = now
	}
	c.mu.Unlock()
	w.cfg.Metrics.CredentialsRefused(op)
	if logNow {
		w.log.Error().Str("operation", op).Err(err).Time("since", since).Dur("grace", w.cfg.CredentialsGrace).
			Msg("CCE refuses this worker's credentials: requests wait (no attempt used) and the worker is not ready until they work again; after CREDENTIALS_GRACE they fail")
	}
	if now.Sub(since) >= w.cfg.CredentialsGrace {
		return &credentialsExpired{since: since, grace: w.cfg.CredentialsGrace, err: err}
	}
	return waitBackoff(w.cfg.RetryBackoffMax, 0, "CCE refuses this worker's credentials since %s (%s): %v",
		since.Format(time.RFC3339), op, err)
}

// credentialsWork notes that CCE answered a call as an authenticated one.
func (w *Server) credentialsWork() {
	c := &w.creds
	c.mu.Lock()
	was := c.since
	c.since, c.last, c.logged = time.Time{}, nil, time.Time{}
	c.mu.Unlock()
	if !was.IsZero() {
		w.log.Info().Dur("refused_for", w.now().Sub(was).Round(time.Second)).Msg("CCE accepts this worker's credentials again")
	}
}

// credentialsProblem is why the worker is not ready, nil while CCE takes
// its credentials.
func (w *Server) credentialsProblem() error {
	c := &w.creds
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return nil
	}
	return fmt.Errorf("CCE refuses this worker's credentials since %s: %v", c.since.Format(time.RFC3339), c.last)
}

// credentialsExpired ends a request: the worker's credentials were refused
// for longer than the grace.
type credentialsExpired struct {
	since time.Time
	grace time.Duration
	err   error
}

func (e *credentialsExpired) Error() string { return e.Reason() }

// Reason is what the request's record says.
func (e *credentialsExpired) Reason() string {
	return fmt.Sprintf("not removed: CCE refused the worker's own credentials for longer than CREDENTIALS_GRACE (%s, since %s): %v",
		e.grace, e.since.Format(time.RFC3339), e.err)
}

func (e *credentialsExpired) Unwrap() error { return e.err }

// refusedCredentials is the handler's answer to a CCE error that refused
// the worker's credentials, or nil for any other error.
func (w *Server) refusedCredentials(op string, err error) error {
	if err == nil || cce.Classify(err) != cce.ClassCredentials {
		return nil
	}
	return w.credentialsRefused(op, err)
}

// watchedCCE tells the worker when CCE answered as to an authenticated
// caller, so that a run of refusals ends there.
type watchedCCE struct {
	CCE
	w *Server
}

func (c watchedCCE) saw(err error) {
	var e *cce.Error
	if err == nil || errors.As(err, &e) && cce.Classify(err) != cce.ClassCredentials {
		c.w.credentialsWork()
	}
}

func (c watchedCCE) RemoveNodes(ctx context.Context, projectID, clusterID string, login cce.Login, nodeUIDs []string) (string, error) {
	id, err := c.CCE.RemoveNodes(ctx, projectID, clusterID, login, nodeUIDs)
	c.saw(err)
	return id, err
}

func (c watchedCCE) ShowJob(ctx context.Context, projectID, jobID string) (*cce.Job, error) {
	j, err := c.CCE.ShowJob(ctx, projectID, jobID)
	c.saw(err)
	return j, err
}

func (c watchedCCE) ShowNode(ctx context.Context, projectID, clusterID, nodeUID string) (*cce.Node, error) {
	n, err := c.CCE.ShowNode(ctx, projectID, clusterID, nodeUID)
	c.saw(err)
	return n, err
}

func (c watchedCCE) ShowCluster(ctx context.Context, projectID, clusterID string) (*cce.Cluster, error) {
	cl, err := c.CCE.ShowCluster(ctx, projectID, clusterID)
	c.saw(err)
	return cl, err
}

func (c watchedCCE) ListNodes(ctx context.Context, projectID, clusterID string) ([]cce.Node, error) {
	ns, err := c.CCE.ListNodes(ctx, projectID, clusterID)
	c.saw(err)
	return ns, err
}
