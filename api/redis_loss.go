package api

import (
	"context"
	"net/http"

	"github.com/noderemover/noderemover/enqueuer"
)

// Paths of a loss of Redis's data.
const (
	redisPath    = "/v1/redis"
	redisAckPath = "/v1/redis/ack"
)

// redisLoss serves GET /v1/redis: {"data_lost": the loss not acknowledged,
// or null}.
func (s *server) redisLoss(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.fail(w, r, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	loss, err := s.c.DataLoss(ctx)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*enqueuer.DataLoss{"data_lost": loss})
}

// ackRedisLoss serves POST /v1/redis/ack: {"acknowledged": the loss it
// acknowledged, or null}. The workers' readiness passes again.
func (s *server) ackRedisLoss(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.fail(w, r, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	loss, err := s.c.AcknowledgeDataLoss(ctx)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	s.log.Info().Bool("was_lost", loss != nil).Msg("the loss of Redis's data was acknowledged")
	writeJSON(w, http.StatusOK, map[string]*enqueuer.DataLoss{"acknowledged": loss})
}
