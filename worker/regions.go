package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/internal/ratelimit"
)

// Regions. Every record and batch names its region (removal.Record.Region,
// removal.Batch.Region; "" is the one endpoint of a fleet with no default
// region), and every CCE call a handler makes goes to that region's client
// (cceOf), drawing on the rate limits of that region and project
// (limitsOf): CCE's gateway counts each project of each region on its own,
// so one region's backlog never holds another's calls back. The default
// region's client is the one New was given (Config.Region names it);
// another region's comes from Config.CCEFor the first time it is needed and
// is kept. A project belongs to one region, so the cluster leases, keyed by
// project and cluster, are per region too.

// regions are the clients of the regions this worker has served, and the
// rate limits of each region and project it has called, both made on
// demand and kept.
type regions struct {
	mu      sync.Mutex
	clients map[string]CCE     // region → its client, watched
	limits  map[string]*limits // ratelimit.Scope → its limits
}

// limits are one region and project's shared CCE rate limits.
type limits struct {
	writes, reads limiter
}

// unservedError is why a request, batch or dry run of a region this worker
// has no CCE client for cannot go on.
type unservedError struct {
	region, dflt string
}

func (e *unservedError) Error() string {
	return fmt.Sprintf("region %s is not served by this worker (its default region is %q; the others are those CCE_ENDPOINTS "+
		"names and the SDK's CCE regions): it should have been refused at enqueue", e.region, e.dflt)
}

// serves returns nil when this worker has a CCE client for region, else
// why not.
func (w *Server) serves(region string) error {
	_, err := w.clientOf(region)
	return err
}

// clientOf returns region's CCE client, making it the first time.
func (w *Server) clientOf(region string) (CCE, error) {
	if region == "" || region == w.cfg.Region {
		return w.cce, nil
	}
	w.regions.mu.Lock()
	defer w.regions.mu.Unlock()
	if c, ok := w.regions.clients[region]; ok {
		return c, nil
	}
	if w.cfg.CCEFor == nil {
		return nil, &unservedError{region: region, dflt: w.cfg.Region}
	}
	api, ok := w.cfg.CCEFor(region)
	if !ok || api == nil {
		return nil, &unservedError{region: region, dflt: w.cfg.Region}
	}
	c := watchedCCE{CCE: api, w: w}
	if w.regions.clients == nil {
		w.regions.clients = map[string]CCE{}
	}
	w.regions.clients[region] = c
	return c, nil
}

// cceOf is region's CCE client. A region this worker does not serve gets
// one whose every call fails saying so: handlers look first (serves), so
// this is only the fallback that keeps a handler from going on without a
// client.
func (w *Server) cceOf(region string) CCE {
	c, err := w.clientOf(region)
	if err != nil {
		return unservedCCE{err: err}
	}
	return c
}

// limitsOf returns the rate limits of region and project, made with the
// configured rates the first time: every worker on the Redis shares them.
func (w *Server) limitsOf(region, project string) *limits {
	scope := ratelimit.Scope(region, project)
	w.regions.mu.Lock()
	defer w.regions.mu.Unlock()
	if l, ok := w.regions.limits[scope]; ok {
		return l
	}
	o := ratelimit.Options{Taken: w.cfg.Metrics.RateSlot, Returned: w.cfg.Metrics.RateSlotReturned, Scope: scope}
	l := &limits{
		writes: ratelimit.New(w.rdb, "write", w.cfg.WriteRate, o),
		reads:  ratelimit.New(w.rdb, "read", w.cfg.ReadRate, o),
	}
	if w.regions.limits == nil {
		w.regions.limits = map[string]*limits{}
	}
	w.regions.limits[scope] = l
	return l
}

// unservedCCE answers every call with the error that its region is not
// served.
type unservedCCE struct{ err error }

func (u unservedCCE) RemoveNodes(context.Context, string, string, cce.Login, []string) (string, error) {
	return "", u.err
}
func (u unservedCCE) ShowJob(context.Context, string, string) (*cce.Job, error) { return nil, u.err }
func (u unservedCCE) ShowNode(context.Context, string, string, string) (*cce.Node, error) {
	return nil, u.err
}
func (u unservedCCE) ShowCluster(context.Context, string, string) (*cce.Cluster, error) {
	return nil, u.err
}
func (u unservedCCE) ListNodes(context.Context, string, string) ([]cce.Node, error) {
	return nil, u.err
}
