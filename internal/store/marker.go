package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The marker says "this is the Redis the workers wrote to". Workers write
// it once, when a Redis has none (a fresh Redis, or one written by a
// version before the marker), and each remembers the one it saw. A marker
// that is later gone or different means Redis lost what it held: it
// restarted empty, was flushed, or failed over to a replica without it.
// The first worker to notice writes the loss, which stays until an
// operator acknowledges it, so every worker, and a worker started later,
// can say so.

// markerKey holds the marker (JSON: Marker).
const markerKey = keyPrefix + "epoch"

// dataLostKey holds the loss no operator has acknowledged yet (JSON:
// DataLoss).
const dataLostKey = keyPrefix + "data-lost"

// Marker is what a worker finds in Redis and remembers.
type Marker struct {
	ID string `json:"id"`
	// Since is when the marker was written: the data Redis holds was
	// written since then.
	Since time.Time `json:"since"`
	// Replaces is the id of the marker whose loss it was written for, ""
	// for the first marker of a Redis.
	Replaces string `json:"replaces,omitempty"`
}

// DataLoss is a loss of Redis's data that no operator has acknowledged.
type DataLoss struct {
	// NoticedAt is when the first worker noticed it.
	NoticedAt time.Time `json:"noticed_at"`
	// DataSince is when the lost marker was written: what was written to
	// Redis since then may be gone.
	DataSince time.Time `json:"data_since"`
}

func (s *Store) newMarker(replaces string) (Marker, string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Marker{}, "", fmt.Errorf("make a marker id: %w", err)
	}
	m := Marker{ID: hex.EncodeToString(b[:]), Since: s.now(), Replaces: replaces}
	raw, err := json.Marshal(m)
	if err != nil {
		return Marker{}, "", fmt.Errorf("encode the marker: %w", err)
	}
	return m, string(raw), nil
}

func decodeMarker(raw string) (*Marker, error) {
	var m Marker
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.ID == "" {
		return nil, &CorruptError{Key: markerKey, Err: fmt.Errorf("not a marker: %q", raw)}
	}
	return &m, nil
}

// EnsureMarker returns Redis's marker, writing a new one when there is
// none (created is true then). Which of two workers starting at once
// writes it does not matter: both get the one that was written.
func (s *Store) EnsureMarker(ctx context.Context) (m *Marker, created bool, err error) {
	_, raw, err := s.newMarker("")
	if err != nil {
		return nil, false, err
	}
	ok, err := s.rdb.SetNX(ctx, markerKey, raw, 0).Result()
	if err != nil {
		return nil, false, fmt.Errorf("write the marker: %w", err)
	}
	if ok {
		m, err := decodeMarker(raw)
		return m, true, err
	}
	m, err = s.Marker(ctx)
	if err == nil && m == nil { // taken away between the two calls: flushed just now
		err = errors.New("the marker went away as it was read")
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the marker: %w", err)
	}
	return m, false, nil
}

// Marker returns Redis's marker, nil when there is none. It is one GET:
// workers call it every few seconds.
func (s *Store) Marker(ctx context.Context) (*Marker, error) {
	raw, err := s.rdb.Get(ctx, markerKey).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeMarker(raw)
}

// noticeLoss is what a worker does when the marker it saw is gone or
// changed. A marker that names the seen one as the one it replaces was
// written by another worker for this same loss, which wrote the loss then:
// it is adopted and the loss is not written again (an operator may have
// acknowledged it already). Otherwise, the marker is written when there is
// none (one that is there, from a worker that started on the empty Redis,
// is kept: other workers may have it) and the loss is written unless one
// is there.
//
// KEYS[1]: the marker; KEYS[2]: the loss.
// ARGV[1]: the id of the marker the worker saw; ARGV[2]: a new marker
// (JSON) replacing it; ARGV[3]: the loss (JSON).
// Returns {outcome, marker, loss or false}: outcome 0 the seen marker is
// there after all, 1 this call wrote the loss, 2 the loss was noticed
// before.
const noticeLossSource = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' then
    if m.id == ARGV[1] then return {0, cur, false} end
    if m.replaces == ARGV[1] then return {2, cur, redis.call('GET', KEYS[2])} end
  end
else
  redis.call('SET', KEYS[1], ARGV[2])
  cur = ARGV[2]
end
if redis.call('SET', KEYS[2], ARGV[3], 'NX') then
  return {1, cur, ARGV[3]}
end
return {2, cur, redis.call('GET', KEYS[2])}`

var noticeLossScript = redis.NewScript(noticeLossSource)

// LossNotice is what NoticeLoss found.
type LossNotice struct {
	// Intact: the marker seen is there after all; nothing was lost.
	Intact bool
	// First: this call wrote the loss; other workers that notice it find
	// it written.
	First bool
	// Marker is the marker to remember from now on.
	Marker Marker
	// Loss is the loss not yet acknowledged, nil when an operator already
	// acknowledged it.
	Loss *DataLoss
}

// NoticeLoss records that the marker seen is gone or changed: Redis lost
// its data. It writes a new marker and the loss, unless another worker
// did for this loss already.
func (s *Store) NoticeLoss(ctx context.Context, seen Marker) (*LossNotice, error) {
	_, marker, err := s.newMarker(seen.ID)
	if err != nil {
		return nil, err
	}
	loss, err := json.Marshal(DataLoss{NoticedAt: s.now(), DataSince: seen.Since})
	if err != nil {
		return nil, fmt.Errorf("encode the loss: %w", err)
	}
	res, err := noticeLossScript.Run(ctx, s.rdb, []string{markerKey, dataLostKey}, seen.ID, marker, string(loss)).Slice()
	if err != nil {
		return nil, fmt.Errorf("record that Redis lost its data: %w", err)
	}
	if len(res) != 3 {
		return nil, fmt.Errorf("record that Redis lost its data: answer %v", res)
	}
	outcome, _ := res[0].(int64)
	raw, _ := res[1].(string)
	m, err := decodeMarker(raw)
	if err != nil {
		return nil, fmt.Errorf("record that Redis lost its data: %w", err)
	}
	n := &LossNotice{Intact: outcome == 0, First: outcome == 1, Marker: *m}
	if rawLoss, ok := res[2].(string); ok {
		if n.Loss, err = decodeLoss(rawLoss); err != nil {
			return nil, fmt.Errorf("record that Redis lost its data: %w", err)
		}
	}
	return n, nil
}

func decodeLoss(raw string) (*DataLoss, error) {
	var l DataLoss
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return nil, &CorruptError{Key: dataLostKey, Err: err}
	}
	return &l, nil
}

// DataLoss returns the loss of data no operator has acknowledged, nil when
// there is none.
func (s *Store) DataLoss(ctx context.Context) (*DataLoss, error) {
	raw, err := s.rdb.Get(ctx, dataLostKey).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read whether Redis lost its data: %w", err)
	}
	l, err := decodeLoss(raw)
	if err != nil {
		return nil, fmt.Errorf("read whether Redis lost its data: %w", err)
	}
	return l, nil
}

// AcknowledgeDataLoss takes the loss away and returns it (nil when there
// was none): readiness passes again.
func (s *Store) AcknowledgeDataLoss(ctx context.Context) (*DataLoss, error) {
	raw, err := s.rdb.GetDel(ctx, dataLostKey).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acknowledge that Redis lost its data: %w", err)
	}
	l, err := decodeLoss(raw)
	if err != nil {
		return nil, fmt.Errorf("acknowledge that Redis lost its data: %w", err)
	}
	return l, nil
}
