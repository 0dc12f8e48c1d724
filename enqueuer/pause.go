package enqueuer

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// The pause switch. A paused cluster's requests wait before their drain
// starts and before their RemoveNode call, their status saying why;
// nothing is lost, and a removal CCE accepted runs to its end.

// AllClusters names every cluster in Paused's answer.
const AllClusters = store.AllClusters

// Pause pauses one cluster; "" pauses every cluster.
func (c *Client) Pause(ctx context.Context, clusterID string) error {
	scope, err := pauseScope(clusterID)
	if err != nil {
		return err
	}
	return unavailable(c.pauses.Pause(ctx, scope), leftNothingChanged)
}

// Resume lifts the pause of one cluster; "" lifts the pause of every
// cluster (clusters paused one by one stay paused).
func (c *Client) Resume(ctx context.Context, clusterID string) error {
	scope, err := pauseScope(clusterID)
	if err != nil {
		return err
	}
	return unavailable(c.pauses.Resume(ctx, scope), leftNothingChanged)
}

// Paused lists what is paused: cluster ids, or AllClusters, with since when.
func (c *Client) Paused(ctx context.Context) (map[string]time.Time, error) {
	p, err := c.pauses.Paused(ctx)
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	return p, nil
}

func pauseScope(clusterID string) (string, error) {
	if clusterID == "" {
		return store.AllClusters, nil
	}
	if err := removal.ValidClusterID(clusterID); err != nil {
		return "", err
	}
	return clusterID, nil
}
