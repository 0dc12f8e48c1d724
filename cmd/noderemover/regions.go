package main

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/worker"
)

// servedRegions are the regions the fleet serves: the SDK's CCE regions,
// those CCE_ENDPOINTS names, and CCE_REGION.
func servedRegions(cfg config.Config) []string {
	set := map[string]bool{}
	for _, r := range cce.Regions {
		set[r] = true
	}
	for r := range cfg.CCEEndpoints {
		set[r] = true
	}
	if cfg.CCERegion != "" {
		set[cfg.CCERegion] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// endpointOf is the CCE endpoint of a region: CCE_ENDPOINTS' entry, else
// CCE_ENDPOINT for CCE_REGION (or for "", a fleet with no default region),
// else the SDK's endpoint of the region.
func endpointOf(cfg config.Config, region string) string {
	if u, ok := cfg.CCEEndpoints[region]; ok {
		return u
	}
	if region == "" || region == cfg.CCERegion {
		return cfg.CCEEndpoint
	}
	return cce.EndpointForRegion(region)
}

// regionClients are the worker's CCE clients, one per region it serves,
// made the first time a request of the region needs one, all with the one
// Authenticator of the configured credentials (an IAM user's tokens are per
// project, and a project belongs to one region).
type regionClients struct {
	cfg     config.Config
	auth    cce.Authenticator
	m       *metrics.Metrics
	served  map[string]bool
	mu      sync.Mutex
	clients map[string]*cce.Client
}

func newRegionClients(cfg config.Config, auth cce.Authenticator, m *metrics.Metrics) *regionClients {
	r := &regionClients{cfg: cfg, auth: auth, m: m, served: map[string]bool{}, clients: map[string]*cce.Client{}}
	for _, region := range servedRegions(cfg) {
		r.served[region] = true
	}
	return r
}

// client is the CCE client of region ("" or CCE_REGION: the default one).
func (r *regionClients) client(region string) (*cce.Client, error) {
	if region != "" && region != r.cfg.CCERegion && !r.served[region] {
		return nil, fmt.Errorf("CCE client: region %s is not served", region)
	}
	if region == "" {
		region = r.cfg.CCERegion
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[region]; ok {
		return c, nil
	}
	c, err := cce.New(cce.Config{Endpoint: endpointOf(r.cfg, region), Auth: r.auth, Timeout: r.cfg.CCETimeout,
		UserAgent: "noderemover", Observe: r.m.CCECalls(region)})
	if err != nil {
		return nil, fmt.Errorf("CCE client of region %q: %w", region, err)
	}
	r.clients[region] = c
	return c, nil
}

// forWorker is worker.Config.CCEFor.
func (r *regionClients) forWorker(region string) (worker.CCE, bool) {
	c, err := r.client(region)
	return c, err == nil
}

// forKube is kube.Options.CCEFor.
func (r *regionClients) forKube(region string) (kube.CertIssuer, bool) {
	c, err := r.client(region)
	return c, err == nil
}

// configuredRegions are the regions named in the configuration (CCE_REGION
// and CCE_ENDPOINTS'), whose metrics start at 0.
func configuredRegions(cfg config.Config) []string {
	set := map[string]bool{cfg.CCERegion: true}
	for r := range cfg.CCEEndpoints {
		set[r] = true
	}
	return slices.Sorted(maps.Keys(set))
}
