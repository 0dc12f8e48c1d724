// Package kube owns the worker's access to each cluster's Kubernetes API,
// chosen by KUBE_ACCESS: a kubeconfig CCE issues (cce), one read from a
// directory (dir), or none. It keeps kubeconfigs in memory only, asks CCE
// for a new one before the certificate ends, and keeps one rate-limited
// client per cluster until its kubeconfig changes.
package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce"
)

// ErrNoAccess is wrapped by Client's error when KUBE_ACCESS is none.
var ErrNoAccess = errors.New("no Kubernetes access")

// The modes of KUBE_ACCESS.
const (
	ModeCCE  = "cce"
	ModeDir  = "dir"
	ModeNone = "none"
)

// The endpoints of KUBE_ENDPOINT and the cluster entries of CCE's
// kubeconfig they pick.
const (
	EndpointInternal = "internal"
	EndpointExternal = "external"
)

var clusterEntries = map[string]string{
	EndpointInternal: "internalCluster",
	EndpointExternal: "externalCluster",
}

// Defaults of Options.
const (
	DefaultQPS     = 20
	DefaultBurst   = 40
	DefaultCertTTL = time.Hour
)

// requestTimeout bounds one call to a cluster's Kubernetes API.
const requestTimeout = 30 * time.Second

// CertIssuer issues kubeconfigs; *cce.Client satisfies it.
type CertIssuer interface {
	ClusterCert(ctx context.Context, projectID, clusterID string, d time.Duration) ([]byte, error)
}

// Options configure Access.
type Options struct {
	// Mode is KUBE_ACCESS: "cce", "dir" or "none" ("" is none).
	Mode string
	// Endpoint is KUBE_ENDPOINT, for cce: which cluster entry of CCE's
	// kubeconfig to use, "internal" (the default) or "external".
	Endpoint string
	// Dir is KUBECONFIG_DIR, for dir: one kubeconfig file per cluster,
	// named exactly the cluster id (a mounted Secret fits). Its current
	// context is used.
	Dir string
	// QPS and Burst are client-go's rate limit per cluster (KUBE_QPS,
	// default 20; KUBE_BURST, default 40).
	QPS   float32
	Burst int
	// CertTTL is KUBE_CERT_TTL, for cce: how long an issued kubeconfig is
	// asked to last (default 1h, 15 minutes to 1827 days). A new one is
	// asked for when less than a third of the certificate's life is left.
	CertTTL time.Duration
	// CCE issues the kubeconfigs, for cce: of clusters of Region (and of
	// region "", a fleet's one endpoint).
	CCE CertIssuer
	// Region is the region CCE serves (CCE_REGION).
	Region string
	// CCEFor, for cce, is the issuer of another region's clusters (a
	// cluster's kubeconfig is its region's CCE's to issue); nil or false:
	// that region's clusters cannot be reached.
	CCEFor func(region string) (CertIssuer, bool)
	// Now is the clock renewals are decided on; nil is time.Now.
	Now func() time.Time
	// Observe, when set, is told of every Kubernetes API request a client
	// made: its HTTP status, 0 when no answer came.
	Observe func(code int)
}

// Access gives the Kubernetes client of a cluster. It is safe for
// concurrent use.
type Access struct {
	o      Options
	entry  string // cce: the cluster entry of CCE's kubeconfig
	flight singleflight.Group

	mu      sync.Mutex
	clients map[clusterKey]*cached
}

type clusterKey struct{ region, project, cluster string }

func (k clusterKey) String() string { return k.region + "/" + k.project + "/" + k.cluster }

// New validates o and returns an Access. Errors name the variable.
func New(o Options) (*Access, error) {
	if o.Mode == "" {
		o.Mode = ModeNone
	}
	if o.Endpoint == "" {
		o.Endpoint = EndpointInternal
	}
	switch o.Mode {
	case ModeCCE, ModeDir, ModeNone:
	default:
		return nil, fmt.Errorf("kube: KUBE_ACCESS %q is not one of cce, dir, none", o.Mode)
	}
	entry, ok := clusterEntries[o.Endpoint]
	if !ok {
		return nil, fmt.Errorf("kube: KUBE_ENDPOINT %q is not one of internal, external", o.Endpoint)
	}
	switch {
	case o.QPS < 0:
		return nil, fmt.Errorf("kube: KUBE_QPS %v is negative", o.QPS)
	case o.Burst < 0:
		return nil, fmt.Errorf("kube: KUBE_BURST %d is negative", o.Burst)
	case o.CertTTL != 0 && (o.CertTTL < cce.MinCertDuration || o.CertTTL > cce.MaxCertDays*24*time.Hour):
		return nil, fmt.Errorf("kube: KUBE_CERT_TTL %v is not between %v and %d days", o.CertTTL, cce.MinCertDuration, cce.MaxCertDays)
	}
	if o.QPS == 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst == 0 {
		o.Burst = max(DefaultBurst, int(o.QPS+0.999))
	}
	if o.CertTTL == 0 {
		o.CertTTL = DefaultCertTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch o.Mode {
	case ModeDir:
		if o.Dir == "" {
			return nil, errors.New("kube: KUBECONFIG_DIR is required with KUBE_ACCESS=dir")
		}
		if _, err := os.ReadDir(o.Dir); err != nil {
			return nil, fmt.Errorf("kube: KUBECONFIG_DIR: %w", err)
		}
	case ModeCCE:
		if o.CCE == nil {
			return nil, errors.New("kube: KUBE_ACCESS=cce needs a CCE client")
		}
	}
	return &Access{o: o, entry: entry, clients: map[clusterKey]*cached{}}, nil
}

// Mode is the KUBE_ACCESS in force: "cce", "dir" or "none".
func (a *Access) Mode() string { return a.o.Mode }

// Enabled reports whether there is any Kubernetes access (mode not none).
func (a *Access) Enabled() bool { return a.o.Mode != ModeNone }

// Client returns a client for the cluster's Kubernetes API, the same one
// until the cluster's kubeconfig changes (renewed by CCE, or its file
// rewritten). With KUBE_ACCESS none it returns an error wrapping
// ErrNoAccess. In cce mode the kubeconfig comes from the CCE of region; in
// dir mode region and projectID are not used.
func (a *Access) Client(ctx context.Context, region, projectID, clusterID string) (kubernetes.Interface, error) {
	switch {
	case a.o.Mode == ModeNone:
		return nil, fmt.Errorf("kube: cluster %s: %w (KUBE_ACCESS is none)", clusterID, ErrNoAccess)
	case clusterID == "":
		return nil, errors.New("kube: the cluster id is empty")
	case a.o.Mode == ModeDir:
		return a.dirClient(clusterID)
	case projectID == "":
		return nil, fmt.Errorf("kube: cluster %s: the project id is empty", clusterID)
	}
	return a.cceClient(ctx, clusterKey{region, projectID, clusterID})
}

// issuer is the CCE that issues the kubeconfigs of region's clusters.
func (a *Access) issuer(region string) (CertIssuer, error) {
	if region == "" || region == a.o.Region {
		return a.o.CCE, nil
	}
	if a.o.CCEFor != nil {
		if c, ok := a.o.CCEFor(region); ok && c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("kube: no CCE client for region %s to issue a kubeconfig", region)
}

// cachedFor returns the cluster's client, if any.
func (a *Access) cachedFor(key clusterKey) *cached {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.clients[key]
}

// store makes c the cluster's client, letting the one it replaces go.
func (a *Access) store(key clusterKey, c *cached) {
	a.mu.Lock()
	old := a.clients[key]
	a.clients[key] = c
	a.mu.Unlock()
	if old != nil && old != c {
		old.release()
	}
}
