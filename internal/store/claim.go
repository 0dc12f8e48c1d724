package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// The reconcile claim: while one task asks CCE about the nodes of a batch
// whose call may have gone out, the batch's other tasks wait for it instead
// of asking the same questions. Without it a merged batch of 200 requests
// would ask about its 200 nodes up to 200 times over, all under one read
// limit, and the answers that count would come last.

// ClaimReconcile claims the reconciliation of batch id for ttl. It returns
// the token to give ReleaseReconcile, or "" and how long the current
// holder's claim has left.
func (s *Store) ClaimReconcile(ctx context.Context, id string, ttl time.Duration) (token string, left time.Duration, err error) {
	token = uuid.NewString()
	ok, err := s.rdb.SetNX(ctx, reconcileKey(id), token, ttl).Result()
	if err != nil {
		return "", 0, fmt.Errorf("claim reconciliation of batch %s: %w", id, err)
	}
	if ok {
		return token, 0, nil
	}
	left, err = s.rdb.PTTL(ctx, reconcileKey(id)).Result()
	if err != nil {
		return "", 0, fmt.Errorf("claim reconciliation of batch %s: %w", id, err)
	}
	return "", max(left, 0), nil
}

// ReleaseReconcile gives back a claim taken with ClaimReconcile, if it is
// still the holder's.
func (s *Store) ReleaseReconcile(ctx context.Context, id, token string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, []string{reconcileKey(id)}, token).Err(); err != nil {
		return fmt.Errorf("release reconciliation of batch %s: %w", id, err)
	}
	return nil
}
