package cce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The validity CCE accepts for a cluster certificate: expire_at from 15
// minutes to 5 years ahead, or duration from 1 to 1827 days.
const (
	MinCertDuration = 15 * time.Minute
	MaxCertDays     = 1827
)

// ClusterCertRequest is the body of ClusterCert. CCE wants exactly one of
// Duration (days, 1 to MaxCertDays, or -1 for the longest) and ExpireAt
// (RFC 3339, 15 minutes to 5 years ahead).
type ClusterCertRequest struct {
	Duration int    `json:"duration,omitempty"`
	ExpireAt string `json:"expire_at,omitempty"`
}

// certBody is a 2xx answer kept as it came: call checks it is JSON but
// never decodes it, so that no decoding error can quote it.
type certBody []byte

// ClusterCert asks CCE for a kubeconfig that reaches the cluster's
// Kubernetes API with a client certificate valid for d, and returns the
// kubeconfig JSON as CCE sent it. A whole number of days is asked for as
// duration; anything else as expire_at, now plus d, rounded up to the
// second. d must be between 15 minutes and 1827 days.
//
// The answer holds the certificate's private key: callers keep it in
// memory, and no error of this call quotes any of it. Each call mints a
// new certificate; CCE cannot list or revoke one alone.
func (c *Client) ClusterCert(ctx context.Context, projectID, clusterID string, d time.Duration) ([]byte, error) {
	const op = "ClusterCert"
	if err := nonEmpty("projectID", projectID, "clusterID", clusterID); err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	req, err := certRequest(d, time.Now())
	if err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cce %s: encode body: %w", op, err)
	}
	var answer certBody
	path := apiPath("projects", projectID, "clusters", clusterID, "clustercert")
	if err := c.call(ctx, op, http.MethodPost, path, body, nil, &answer); err != nil {
		return nil, err
	}
	return answer, nil
}

// certRequest makes the body for a validity of d from now.
func certRequest(d time.Duration, now time.Time) (ClusterCertRequest, error) {
	const day = 24 * time.Hour
	switch {
	case d < MinCertDuration:
		return ClusterCertRequest{}, fmt.Errorf("%w: certificate validity %v is below %v", ErrInvalidInput, d, MinCertDuration)
	case d > MaxCertDays*day:
		return ClusterCertRequest{}, fmt.Errorf("%w: certificate validity %v is above %d days", ErrInvalidInput, d, MaxCertDays)
	case d%day == 0:
		return ClusterCertRequest{Duration: int(d / day)}, nil
	}
	at := now.Add(d).UTC()
	if t := at.Truncate(time.Second); t.Before(at) {
		at = t.Add(time.Second)
	}
	return ClusterCertRequest{ExpireAt: at.Format(time.RFC3339)}, nil
}
