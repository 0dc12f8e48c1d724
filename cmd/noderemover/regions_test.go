package main

import (
	"slices"
	"testing"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
)

// TestRegionEndpoints: the endpoint of each region, and config's default
// endpoint of CCE_REGION is cce's.
func TestRegionEndpoints(t *testing.T) {
	for _, r := range cce.Regions {
		if got, want := config.RegionEndpoint(r), cce.EndpointForRegion(r); got != want {
			t.Errorf("region %s: config has %s, cce %s", r, got, want)
		}
	}
	env := map[string]string{"CCE_REGION": "cn-north-4", "CCE_ENDPOINT": "http://127.0.0.1:9000",
		"CCE_ENDPOINTS": "eu-west-101=http://127.0.0.1:9001,xx-private-1=http://127.0.0.1:9002"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string]string{
		"":               "http://127.0.0.1:9000",
		"cn-north-4":     "http://127.0.0.1:9000",
		"eu-west-101":    "http://127.0.0.1:9001",
		"xx-private-1":   "http://127.0.0.1:9002",
		"ap-southeast-1": "https://cce.ap-southeast-1.myhuaweicloud.com",
	} {
		if got := endpointOf(cfg, region); got != want {
			t.Errorf("endpointOf(%q) = %s, want %s", region, got, want)
		}
	}
	served := servedRegions(cfg)
	for _, r := range []string{"cn-north-4", "eu-west-101", "xx-private-1", "ap-southeast-1"} {
		if !slices.Contains(served, r) {
			t.Errorf("%s is not served: %v", r, served)
		}
	}
	if slices.Contains(served, "xx-other-1") {
		t.Error("a region named nowhere is served")
	}
}
