package cce

import (
	"regexp"
	"slices"
)

// Regions are the CCE regions of Huawei Cloud's official SDK
// (huaweicloud-sdk-go-v3 and its siblings, services/cce/v3/region: the
// generated list of CCE endpoints), sorted. A fleet serves these, plus any
// region it is given an endpoint for (CCE_ENDPOINTS).
var Regions = []string{
	"ae-ad-1",
	"af-north-1",
	"af-south-1",
	"ap-southeast-1",
	"ap-southeast-2",
	"ap-southeast-3",
	"ap-southeast-4",
	"ap-southeast-5",
	"cn-east-2",
	"cn-east-3",
	"cn-east-4",
	"cn-east-5",
	"cn-north-1",
	"cn-north-11",
	"cn-north-2",
	"cn-north-4",
	"cn-north-9",
	"cn-south-1",
	"cn-south-2",
	"cn-south-4",
	"cn-southwest-2",
	"eu-west-0",
	"eu-west-101",
	"la-north-2",
	"la-south-2",
	"me-east-1",
	"my-kualalumpur-1",
	"na-mexico-1",
	"ru-moscow-1",
	"ru-northwest-2",
	"sa-brazil-1",
	"tr-west-1",
}

// regionPattern is the form of a region name: lower-case words joined by
// dashes, the first of letters ("cn-north-4", "my-kualalumpur-1").
var regionPattern = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

// ValidRegionName reports whether name has the form of a region name.
func ValidRegionName(name string) bool { return len(name) <= 64 && regionPattern.MatchString(name) }

// KnownRegion reports whether region is one of Regions.
func KnownRegion(region string) bool {
	_, ok := slices.BinarySearch(Regions, region)
	return ok
}

// endpointDomains are the regions whose endpoint is not under
// myhuaweicloud.com.
var endpointDomains = map[string]string{
	"eu-west-101": "myhuaweicloud.eu",
}

// EndpointForRegion returns the CCE endpoint of a region, as the SDK has
// it: "https://cce.cn-north-4.myhuaweicloud.com" for "cn-north-4", and
// "https://cce.eu-west-101.myhuaweicloud.eu" for "eu-west-101".
func EndpointForRegion(region string) string {
	domain, ok := endpointDomains[region]
	if !ok {
		domain = "myhuaweicloud.com"
	}
	return "https://cce." + region + "." + domain
}
