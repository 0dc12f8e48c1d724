package api

import (
	"context"
	"net/http"
	"time"
)

// Paths of the pause switch.
const (
	pausePath         = "/v1/pause"
	resumePath        = "/v1/resume"
	clusterPausePath  = "/v1/clusters/{id}/pause"
	clusterResumePath = "/v1/clusters/{id}/resume"
)

// pauseSwitch serves POST of the four pause paths: cluster is the path's id,
// "" for every cluster. The answer is what is paused then.
func (s *server) pauseSwitch(resume bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkQuery(r); err != nil {
			s.fail(w, r, "", err)
			return
		}
		cluster := r.PathValue("id")
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		flip := s.c.Pause
		if resume {
			flip = s.c.Resume
		}
		if err := flip(ctx, cluster); err != nil {
			s.fail(w, r, "", err)
			return
		}
		paused, err := s.c.Paused(ctx)
		if err != nil {
			s.fail(w, r, "", err)
			return
		}
		if paused == nil {
			paused = map[string]time.Time{}
		}
		writeJSON(w, http.StatusOK, map[string]map[string]time.Time{"paused": paused})
	}
}
