package api

import (
	"context"
	"net/http"

	"github.com/noderemover/noderemover/enqueuer"
)

// clusterPath is a cluster's guardrail settings.
const clusterPath = "/v1/clusters/{id}"

// getCluster is GET /v1/clusters/{id}: the cluster's settings, what is in
// force and its pause.
func (s *server) getCluster(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.fail(w, r, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	v, err := s.c.Cluster(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// putCluster is PUT /v1/clusters/{id}: the body replaces what the cluster
// sets for itself (a member left out is the fleet's).
func (s *server) putCluster(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.fail(w, r, "", err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	cs, err := enqueuer.DecodeClusterSettings(body)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	v, err := s.c.SetCluster(ctx, r.PathValue("id"), cs)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
