package cce_test

import (
	"slices"
	"testing"

	"github.com/noderemover/noderemover/cce"
)

func TestEndpointForRegion(t *testing.T) {
	for region, want := range map[string]string{
		"cn-north-4":     "https://cce.cn-north-4.myhuaweicloud.com",
		"ap-southeast-1": "https://cce.ap-southeast-1.myhuaweicloud.com",
		"eu-west-101":    "https://cce.eu-west-101.myhuaweicloud.eu",
		"eu-west-0":      "https://cce.eu-west-0.myhuaweicloud.com",
	} {
		if got := cce.EndpointForRegion(region); got != want {
			t.Errorf("EndpointForRegion(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestRegions(t *testing.T) {
	if !slices.IsSorted(cce.Regions) || len(slices.Compact(slices.Clone(cce.Regions))) != len(cce.Regions) {
		t.Errorf("Regions must be sorted and without repeats: %v", cce.Regions)
	}
	for _, r := range cce.Regions {
		if !cce.ValidRegionName(r) || !cce.KnownRegion(r) {
			t.Errorf("region %q: valid name %v, known %v", r, cce.ValidRegionName(r), cce.KnownRegion(r))
		}
	}
	for _, r := range []string{"cn-north-4", "eu-west-101", "ap-southeast-1", "cn-east-3"} {
		if !cce.KnownRegion(r) {
			t.Errorf("%s is not known", r)
		}
	}
	for _, bad := range []string{"", "North 4", "cn", "CN-NORTH-4", "cn-north-4/", "-cn-north-4", "cn_north_4"} {
		if cce.ValidRegionName(bad) {
			t.Errorf("ValidRegionName(%q) is true", bad)
		}
	}
	if cce.KnownRegion("xx-nowhere-1") {
		t.Error("xx-nowhere-1 is known")
	}
}
