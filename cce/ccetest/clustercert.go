package ccetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// expireAtGrace is how far below 15 minutes ahead an expire_at may be: a
// client asking for exactly 15 minutes loses some on the way.
const expireAtGrace = time.Minute

// certRequestBody is the clustercert body with pointers, so that absent and
// zero can be told apart.
type certRequestBody struct {
	Duration *int    `json:"duration"`
	ExpireAt *string `json:"expire_at"`
}

// SetClusterCert makes a cluster (created if needed) answer clustercert:
// issue is called, without the fake's lock, with the certificate's end as
// the body asks for it, and its bytes are the answer (a kubeconfig, as CCE
// sends it); an error from it is a 500. Without SetClusterCert a cluster
// answers 403 CCE.01403001. nil takes the issuer away.
func (f *Fake) SetClusterCert(projectID, clusterID string, issue func(notAfter time.Time) ([]byte, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusterOf(projectID, clusterID, true).issue = issue
}

// certRequest checks POST .../clusters/{cluster_id}/clustercert as CCE
// does: the body, then the cluster. It returns the cluster's issuer and
// the certificate's end, or (nil issuer) the error answer.
func (f *Fake) certRequest(r *http.Request, rt route, body []byte, now time.Time) (func(time.Time) ([]byte, error), time.Time, answer) {
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		return nil, time.Time{}, cceError(http.StatusBadRequest, "CCE.01400006", "%s", msg)
	}
	notAfter, msg := decodeCertRequest(body, now)
	if msg != "" {
		return nil, time.Time{}, cceError(http.StatusBadRequest, "CCE.01400001", "%s", msg)
	}
	c := f.clusterOf(rt.project, rt.cluster, false)
	if c == nil {
		return nil, time.Time{}, cceError(http.StatusNotFound, "CCE.01404001", "cluster %s not found", rt.cluster)
	}
	if c.issue == nil {
		return nil, time.Time{}, cceError(http.StatusForbidden, "CCE.01403001",
			"cluster %s cannot issue certificates (ccetest: no SetClusterCert)", rt.cluster)
	}
	return c.issue, notAfter, answer{}
}

// decodeCertRequest decodes and validates a clustercert body strictly and
// returns when the certificate ends; msg says what is wrong.
func decodeCertRequest(body []byte, now time.Time) (notAfter time.Time, msg string) {
	var req certRequestBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return time.Time{}, "the request body is empty"
		}
		return time.Time{}, "invalid request body: " + err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return time.Time{}, "invalid request body: data after the JSON object"
	}
	const day = 24 * time.Hour
	switch {
	case req.Duration != nil && req.ExpireAt != nil:
		return time.Time{}, "set only one of duration and expire_at"
	case req.Duration != nil:
		days := *req.Duration
		switch {
		case days == -1:
			return now.Add(cce.MaxCertDays * day), ""
		case days < 1 || days > cce.MaxCertDays:
			return time.Time{}, fmt.Sprintf("duration %d is invalid, it must be 1 to %d days or -1", days, cce.MaxCertDays)
		}
		return now.Add(time.Duration(days) * day), ""
	case req.ExpireAt != nil:
		at, err := time.Parse(time.RFC3339, *req.ExpireAt)
		switch {
		case err != nil:
			return time.Time{}, fmt.Sprintf("expire_at %q is not an RFC 3339 time", *req.ExpireAt)
		case at.Before(now.Add(cce.MinCertDuration - expireAtGrace)):
			return time.Time{}, fmt.Sprintf("expire_at %s is less than 15 minutes ahead", *req.ExpireAt)
		case at.After(now.AddDate(5, 0, 0)):
			return time.Time{}, fmt.Sprintf("expire_at %s is more than 5 years ahead", *req.ExpireAt)
		}
		return at, ""
	}
	return time.Time{}, "one of duration and expire_at is required"
}

// issueCert answers with what the cluster's issuer minted.
func issueCert(issue func(time.Time) ([]byte, error), notAfter time.Time) answer {
	kubeconfig, err := issue(notAfter)
	if err != nil {
		return cceError(http.StatusInternalServerError, "CCE.01500001", "issue the certificate: %v", err)
	}
	return answer{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: kubeconfig}
}
