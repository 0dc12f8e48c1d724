package enqueuer

import (
	"context"
	"time"

	"github.com/noderemover/noderemover/internal/store"
)

// A loss of Redis's data: a worker found the marker it saw in Redis gone or
// changed (Redis restarted empty, was flushed, or failed over to a replica
// without it). Records, node claims and queued tasks written before may be
// gone, and a node CCE had already accepted may be removed with no record.
// Workers are not ready until an operator acknowledges the loss.

// DataLoss is a loss of Redis's data no operator has acknowledged yet.
type DataLoss struct {
	// NoticedAt is when the first worker noticed it.
	NoticedAt time.Time `json:"noticed_at"`
	// DataSince is when the marker that was lost had been written: what was
	// written to Redis since then may be gone.
	DataSince time.Time `json:"data_since"`
}

// dataLosses is the loss in the store (*store.Store).
type dataLosses interface {
	DataLoss(ctx context.Context) (*store.DataLoss, error)
	AcknowledgeDataLoss(ctx context.Context) (*store.DataLoss, error)
}

// DataLoss returns the loss of Redis's data no operator has acknowledged,
// nil when there is none.
func (c *Client) DataLoss(ctx context.Context) (*DataLoss, error) {
	l, err := c.losses.DataLoss(ctx)
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	return dataLossOf(l), nil
}

// AcknowledgeDataLoss says an operator knows Redis lost its data (and has
// checked what CCE removed meanwhile): the workers' readiness passes again.
// It returns the loss it acknowledged, nil when there was none.
func (c *Client) AcknowledgeDataLoss(ctx context.Context) (*DataLoss, error) {
	l, err := c.losses.AcknowledgeDataLoss(ctx)
	if err != nil {
		return nil, unavailable(err, leftAcknowledged)
	}
	return dataLossOf(l), nil
}

func dataLossOf(l *store.DataLoss) *DataLoss {
	if l == nil {
		return nil
	}
	return &DataLoss{NoticedAt: l.NoticedAt, DataSince: l.DataSince}
}
