package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// Dry runs go to a worker through two lists: the asker pushes its question
// on questionsKey and waits on its own answer list; a worker pops the
// question, and pushes the answer (expiring) on the asker's list. Once the
// asker has its answer, or gave up and took its question back, neither key
// is left: a dry run leaves Redis as it found it.

// questionsKey is the list of dry runs waiting for a worker.
const questionsKey = keyPrefix + "dryrun:questions"

// answerKey is the list a dry run's answer is pushed on.
func answerKey(id string) string { return keyPrefix + "dryrun:answer:" + id }

// answerTTL bounds how long an answer nobody takes stays.
const answerTTL = time.Minute

// ErrNoAnswer is the condition of a dry run no worker answered in time.
var ErrNoAnswer = errors.New("no worker answered")

// answer is what a worker pushes: the dry run, or why it could not make one.
type answer struct {
	DryRun *removal.DryRun `json:"dry_run,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Ask hands q to a worker and waits until q.Deadline for the answer. No
// answer in time takes the question back and is an error wrapping
// ErrNoAnswer; a worker that could not look is an error with its reason.
func (s *Store) Ask(ctx context.Context, q removal.Question) (*removal.DryRun, error) {
	raw, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	if err := s.rdb.LPush(ctx, questionsKey, raw).Err(); err != nil {
		return nil, fmt.Errorf("ask for a dry run: %w", err)
	}
	wait := time.Until(q.Deadline)
	// Redis blocks for whole seconds at least (as go-redis sends it).
	res, err := s.rdb.BRPop(ctx, max(wait.Truncate(time.Second), time.Second), answerKey(q.ID)).Result()
	if err != nil {
		// Take the question back if no worker took it yet.
		if lerr := s.rdb.LRem(context.WithoutCancel(ctx), questionsKey, 1, raw).Err(); lerr != nil {
			err = errors.Join(err, lerr)
		}
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("dry run: %w within %s: is a worker running?", ErrNoAnswer, wait.Round(time.Second))
		}
		return nil, fmt.Errorf("dry run: %w", err)
	}
	var a answer
	if err := json.Unmarshal([]byte(res[1]), &a); err != nil {
		return nil, fmt.Errorf("dry run: the worker's answer is not one: %w", err)
	}
	if a.Error != "" || a.DryRun == nil {
		return nil, fmt.Errorf("dry run: the worker could not look: %s", a.Error)
	}
	return a.DryRun, nil
}

// NextQuestion waits up to block for a dry run to answer; nil when none
// came.
func (s *Store) NextQuestion(ctx context.Context, block time.Duration) (*removal.Question, error) {
	res, err := s.rdb.BRPop(ctx, block, questionsKey).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var q removal.Question
	if err := json.Unmarshal([]byte(res[1]), &q); err != nil {
		return nil, fmt.Errorf("dry run question %q: %w", res[1], err)
	}
	return &q, nil
}

// Answer gives question id its dry run d, or the error that kept the
// worker from making one.
func (s *Store) Answer(ctx context.Context, id string, d *removal.DryRun, lookErr error) error {
	a := answer{DryRun: d}
	if lookErr != nil {
		a = answer{Error: lookErr.Error()}
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, answerKey(id), raw)
		p.PExpire(ctx, answerKey(id), answerTTL)
		return nil
	})
	return err
}

// Claims returns, for each of the nodes uids of a cluster that an
// unfinished request claims, that request's id.
func (s *Store) Claims(ctx context.Context, project, cluster string, uids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(uids) == 0 {
		return out, nil
	}
	keys := make([]string, len(uids))
	for i, uid := range uids {
		keys[i] = claimKey(project, cluster, uid)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("read claims of cluster %s: %w", cluster, err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok {
			out[uids[i]] = id
		}
	}
	return out, nil
}
