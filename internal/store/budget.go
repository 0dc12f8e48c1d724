package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// A cluster's disruption budget in use: the hash budgetKey holds, for each
// request admitted to drain or be removed, the JSON list of its nodes, and
// in field budgetVersion a counter every admission increments. An
// admission is written only if the counter still holds what the decision
// was made from, so two replicas never admit past the budget together; the
// step that ends a request takes its field out (moved).

// budgetKey is the hash of a cluster's admitted requests.
func budgetKey(project, cluster string) string {
	return keyPrefix + "budget:" + project + ":" + cluster
}

// budgetVersion is the field of the budget hash that changes with every
// admission.
const budgetVersion = "_v"

// readBudget adds to pipeline p the read budgetOf takes.
func readBudget(ctx context.Context, p redis.Pipeliner, project, cluster string) *redis.MapStringStringCmd {
	return p.HGetAll(ctx, budgetKey(project, cluster))
}

// budgetOf reads a budget hash.
func budgetOf(project, cluster string, cmd *redis.MapStringStringCmd) (removal.Disruption, error) {
	raw, err := cmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return removal.Disruption{}, fmt.Errorf("read the disruption budget of cluster %s: %w", cluster, err)
	}
	d := removal.Disruption{Version: raw[budgetVersion], Admitted: make(map[string][]string, len(raw))}
	for id, v := range raw {
		if id == budgetVersion {
			continue
		}
		var nodes []string
		if err := json.Unmarshal([]byte(v), &nodes); err != nil {
			return removal.Disruption{}, fmt.Errorf("read the disruption budget of cluster %s: %s holds %q for %s, not a list of nodes",
				cluster, budgetKey(project, cluster), v, id)
		}
		d.Admitted[id] = nodes
	}
	return d, nil
}

// Disruption reads how cluster's budget is used.
func (s *Store) Disruption(ctx context.Context, project, cluster string) (removal.Disruption, error) {
	return budgetOf(project, cluster, s.rdb.HGetAll(ctx, budgetKey(project, cluster)))
}

// admitCheck adds to plan p the check that no admission to cluster's
// budget came in since d was read, when added admits anyone.
func admitCheck(p *plan, project, cluster string, d removal.Disruption, added map[string][]string) {
	if len(added) > 0 {
		p.hholds(budgetKey(project, cluster), budgetVersion, d.Version)
	}
}

// admitWrites adds to plan p the admission of added (request id → nodes),
// after admitCheck.
func admitWrites(p *plan, project, cluster string, added map[string][]string) error {
	if len(added) == 0 {
		return nil
	}
	k := budgetKey(project, cluster)
	for _, id := range slices.Sorted(maps.Keys(added)) {
		raw, err := json.Marshal(added[id])
		if err != nil {
			return err
		}
		p.hset(k, id, string(raw))
	}
	p.hincr(k, budgetVersion)
	return nil
}

// Admit admits request id (still as rec was read: raw) to its cluster's
// budget with its open nodes, as decided from d, and notes that it no
// longer waits. An error wrapping removal.ErrStale says the budget or the
// request changed meanwhile: read again and decide again.
func (s *Store) Admit(ctx context.Context, id string, d removal.Disruption) (*removal.Record, error) {
	r, raw, err := s.readRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State.Final() {
		return r, fmt.Errorf("admit request %s: it is %s: %w", id, r.State, removal.ErrStale)
	}
	p := newPlan()
	p.holds(requestKey(id), raw)
	admitCheck(p, r.ProjectID, r.ClusterID, d, map[string][]string{id: nil})
	if before := r.Shape(); removal.Hold(r, "", s.now()) {
		if _, err := s.putRecord(p, before, r); err != nil {
			return nil, err
		}
	}
	if err := admitWrites(p, r.ProjectID, r.ClusterID, map[string][]string{id: r.OpenNodes()}); err != nil {
		return nil, err
	}
	_, err = p.run(ctx, s.rdb)
	if errors.Is(err, errStalePlan) {
		return nil, fmt.Errorf("admit request %s: %w", id, removal.ErrStale)
	}
	if err != nil {
		return nil, fmt.Errorf("admit request %s: %w", id, err)
	}
	return r, nil
}

// FailNodes fails the open nodes of request id named in reasons (a
// preflight found them gone or in a phase CCE cannot remove), ending the
// request when none is left: read fresh and written in one plan.
func (s *Store) FailNodes(ctx context.Context, id string, reasons map[string]string) (*removal.Record, *removal.Change, error) {
	return s.update(ctx, "fail nodes of request "+id, id, func(r *removal.Record) (bool, error) {
		return removal.FailNodes(r, reasons, s.now()), nil
	})
}
