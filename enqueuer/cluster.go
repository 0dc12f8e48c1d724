package enqueuer

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// A cluster's guardrails, set at run time.
type (
	Budget          = removal.Budget
	Window          = removal.Window
	ClusterSettings = removal.ClusterSettings
	Guard           = removal.Guard
)

// Parsers of the settings' command-line forms, and of their JSON (strict:
// an unknown member or trailing data is an error naming it).
var (
	ParseBudget           = removal.ParseBudget
	ParseWindow           = removal.ParseWindow
	DecodeClusterSettings = removal.DecodeClusterSettings
)

// DefaultGuard is the fleet's guardrails when CLUSTER_MAX_DISRUPTING and
// CLUSTER_MIN_NODES are not set: 10% of a cluster's nodes at once, never
// fewer than one node left, no window.
var DefaultGuard = Guard{MaxDisrupting: Budget{N: 10, Percent: true}, MinNodes: 1, Windows: []Window{}}

// ClusterView is a cluster's guardrails as `noderemover cluster get` and
// GET /v1/clusters/{id} show them: what the cluster sets, what is in force
// (its settings over the fleet's), and its pause.
type ClusterView struct {
	ClusterID string          `json:"cluster_id"`
	Settings  ClusterSettings `json:"settings"`
	Effective Guard           `json:"effective"`
	Paused    *PauseView      `json:"paused"`
}

// PauseView is what pauses a cluster: its own switch (scope its id) or
// the one of every cluster (scope "*"), since when.
type PauseView struct {
	Scope string    `json:"scope"`
	Since time.Time `json:"since"`
}

// settings is the store's side of the cluster settings (*store.Store).
type settings interface {
	ClusterSettings(ctx context.Context, cluster string) (removal.ClusterSettings, error)
	SetClusterSettings(ctx context.Context, cluster string, cs removal.ClusterSettings) error
	UpdateClusterSettings(ctx context.Context, cluster string, f func(*removal.ClusterSettings) error) (removal.ClusterSettings, error)
	PausedFor(ctx context.Context, cluster string) (*store.Pause, error)
}

// Cluster shows cluster's guardrails.
func (c *Client) Cluster(ctx context.Context, clusterID string) (*ClusterView, error) {
	if err := removal.ValidClusterID(clusterID); err != nil {
		return nil, err
	}
	cs, err := c.settings.ClusterSettings(ctx, clusterID)
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	return c.view(ctx, clusterID, cs)
}

// SetCluster replaces what cluster sets for itself (nil and empty fields:
// the fleet's), and shows the result. Invalid settings write nothing and
// match ErrInvalid, naming the field.
func (c *Client) SetCluster(ctx context.Context, clusterID string, cs ClusterSettings) (*ClusterView, error) {
	if err := removal.ValidClusterID(clusterID); err != nil {
		return nil, err
	}
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	if err := c.settings.SetClusterSettings(ctx, clusterID, cs); err != nil {
		return nil, unavailable(err, leftNothingChanged)
	}
	return c.view(ctx, clusterID, cs)
}

// UpdateCluster changes what cluster sets for itself by f (safe against
// other writers), and shows the result.
func (c *Client) UpdateCluster(ctx context.Context, clusterID string, f func(*ClusterSettings) error) (*ClusterView, error) {
	if err := removal.ValidClusterID(clusterID); err != nil {
		return nil, err
	}
	cs, err := c.settings.UpdateClusterSettings(ctx, clusterID, f)
	if err != nil {
		return nil, unavailable(err, leftNothingChanged)
	}
	return c.view(ctx, clusterID, cs)
}

func (c *Client) view(ctx context.Context, clusterID string, cs ClusterSettings) (*ClusterView, error) {
	p, err := c.settings.PausedFor(ctx, clusterID)
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	v := &ClusterView{ClusterID: clusterID, Settings: cs, Effective: cs.Resolve(c.guard)}
	if p != nil {
		v.Paused = &PauseView{Scope: p.Scope, Since: p.Since}
	}
	return v, nil
}
