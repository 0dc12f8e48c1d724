package main

import (
	"maps"
	"slices"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
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
