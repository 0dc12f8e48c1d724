// Package tasks is the wire contract between producers and workers: the task
// kinds and their JSON payloads. A kind string never changes meaning;
// payloads only grow, and old payloads stay decodable while retries can
// still hold them.
package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Queue is the asynq queue every noderemover task goes to.
const Queue = "removals"

// Task kinds.
const (
	// TypeRemoveNodes asks a worker to carry one request to CCE.
	TypeRemoveNodes = "node:remove"
	// TypePollJob asks a worker to look at a CCE removal job once.
	TypePollJob = "node:remove:poll"
	// TypeUncordon asks a worker to make schedulable again the Kubernetes
	// Nodes a request cordoned and no longer needs (it was cancelled).
	TypeUncordon = "node:uncordon"
	// TypeWebhook asks a worker to POST one event to a request's callback.
	TypeWebhook = "webhook:deliver"
)

// ErrBadPayload matches every payload that cannot be decoded. It wraps
// asynq.SkipRetry, so a handler returning it archives the task with the
// reason instead of retrying it.
var ErrBadPayload = fmt.Errorf("bad payload: %w", asynq.SkipRetry)

// RemoveNodes is the payload of TypeRemoveNodes. The request's record in
// Redis is the source of truth; the payload says which one, and what it was
// for, so the dashboard shows it. It carries no login material.
type RemoveNodes struct {
	RequestID string   `json:"request_id"`
	ProjectID string   `json:"project_id"`
	ClusterID string   `json:"cluster_id"`
	Nodes     []string `json:"nodes"`
}

// PollJob is the payload of TypePollJob: look at job JobID of batch BatchID
// for the Poll-th time.
type PollJob struct {
	BatchID   string `json:"batch_id"`
	ProjectID string `json:"project_id"`
	ClusterID string `json:"cluster_id"`
	// Region is the batch's region; "" (and a payload from before regions)
	// is the default region.
	Region     string    `json:"region,omitempty"`
	JobID      string    `json:"job_id"`
	RequestIDs []string  `json:"request_ids"`
	Poll       int       `json:"poll"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// RemoveNodesMaxRetry is asynq's bound on runs of one request's task. The
// worker bounds RemoveNode calls itself (SUBMIT_MAX_ATTEMPTS) and waits for
// busy clusters and rate limits without using up runs; this only stops a
// task that keeps failing or crashing its worker.
const RemoveNodesMaxRetry = 25

// RemoveNodesTimeout bounds one run of a request's task; each run does one
// bounded step.
const RemoveNodesTimeout = 5 * time.Minute

// Retention is how long a request's task, and the last poll of a CCE job,
// stay readable after they complete (asynq keeps them with their result, in
// asynqmon's Completed tab): a day, about 1 kB of Redis each.
const Retention = 24 * time.Hour

// NewRemoveNodes builds the task for one request. Its asynq task id is the
// request id: a second guard against enqueueing a request twice. It allows
// RemoveNodesMaxRetry runs of RemoveNodesTimeout each unless opts say
// otherwise.
func NewRemoveNodes(p RemoveNodes, opts ...asynq.Option) (*asynq.Task, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeRemoveNodes, err)
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(RemoveNodesTaskID(p.RequestID)),
		asynq.MaxRetry(RemoveNodesMaxRetry), asynq.Timeout(RemoveNodesTimeout), asynq.Retention(Retention)}, opts...)
	return asynq.NewTask(TypeRemoveNodes, raw, opts...), nil
}

// RemoveNodesTaskID is the asynq task id of a request's task.
func RemoveNodesTaskID(requestID string) string { return "remove:" + requestID }

// NewPollJob builds the task of one poll. Its task id names batch, job and
// poll number, so scheduling the same poll twice makes one task. It is kept
// for Retention after it completes; each poll takes its predecessor away, so
// a job leaves its last poll, with the job's outcome.
func NewPollJob(p PollJob, opts ...asynq.Option) (*asynq.Task, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypePollJob, err)
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(PollTaskID(p.BatchID, p.Poll)), asynq.Retention(Retention)}, opts...)
	return asynq.NewTask(TypePollJob, raw, opts...), nil
}

// PollTaskID is the asynq task id of a batch's n-th poll.
func PollTaskID(batchID string, n int) string { return fmt.Sprintf("poll:%s:%d", batchID, n) }

// Uncordon is the payload of TypeUncordon.
type Uncordon struct {
	RequestID string `json:"request_id"`
}

// UncordonMaxRetry bounds the runs of an uncordon task: Kubernetes may be
// out of reach for a while.
const UncordonMaxRetry = 50

// NewUncordon builds the uncordon task of a request; its task id names the
// request, so asking twice makes one task.
func NewUncordon(p Uncordon, opts ...asynq.Option) (*asynq.Task, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeUncordon, err)
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(UncordonTaskID(p.RequestID)),
		asynq.MaxRetry(UncordonMaxRetry), asynq.Timeout(RemoveNodesTimeout)}, opts...)
	return asynq.NewTask(TypeUncordon, raw, opts...), nil
}

// UncordonTaskID is the asynq task id of a request's uncordon task.
func UncordonTaskID(requestID string) string { return "uncordon:" + requestID }

// DecodeUncordon decodes and checks a TypeUncordon payload.
func DecodeUncordon(raw []byte) (Uncordon, error) {
	var p Uncordon
	if err := decode(raw, &p); err != nil {
		return p, fmt.Errorf("%s: %w: %v", TypeUncordon, ErrBadPayload, err)
	}
	if p.RequestID == "" {
		return p, fmt.Errorf("%s: %w: request_id missing", TypeUncordon, ErrBadPayload)
	}
	return p, nil
}

// DecodeRemoveNodes decodes and checks a TypeRemoveNodes payload.
func DecodeRemoveNodes(raw []byte) (RemoveNodes, error) {
	var p RemoveNodes
	if err := decode(raw, &p); err != nil {
		return p, fmt.Errorf("%s: %w: %v", TypeRemoveNodes, ErrBadPayload, err)
	}
	if p.RequestID == "" {
		return p, fmt.Errorf("%s: %w: request_id missing", TypeRemoveNodes, ErrBadPayload)
	}
	return p, nil
}

// DecodePollJob decodes and checks a TypePollJob payload.
func DecodePollJob(raw []byte) (PollJob, error) {
	var p PollJob
	if err := decode(raw, &p); err != nil {
		return p, fmt.Errorf("%s: %w: %v", TypePollJob, ErrBadPayload, err)
	}
	var missing []string
	for _, f := range [][2]string{{"batch_id", p.BatchID}, {"project_id", p.ProjectID}, {"job_id", p.JobID}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("%s: %w: %v missing", TypePollJob, ErrBadPayload, missing)
	}
	if p.Poll < 0 {
		return p, fmt.Errorf("%s: %w: poll %d is negative", TypePollJob, ErrBadPayload, p.Poll)
	}
	return p, nil
}

// decode reads one JSON object; unknown fields are allowed (a newer producer
// may add some), trailing data is not.
func decode(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("empty payload")
	}
	return json.Unmarshal(raw, v) // which refuses data after the object, too
}

// Webhook is the payload of TypeWebhook: event EventID (its CloudEvent JSON,
// Body, published at Time) for request RequestID, to be POSTed to URL.
type Webhook struct {
	EventID   string          `json:"event_id"`
	RequestID string          `json:"request_id"`
	URL       string          `json:"url"`
	Time      time.Time       `json:"time"`
	Body      json.RawMessage `json:"body"`
}

// WebhookMaxRetry bounds a delivery's attempts; WEBHOOK_MAX_AGE usually
// ends them first.
const WebhookMaxRetry = 2000

// WebhookTaskID names the delivery of one event: handing the same event on
// twice queues one task.
func WebhookTaskID(eventID string) string { return "webhook:" + eventID }

// NewWebhook builds the delivery task of one event.
func NewWebhook(p Webhook, opts ...asynq.Option) (*asynq.Task, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeWebhook, err)
	}
	opts = append([]asynq.Option{asynq.Queue(Queue), asynq.TaskID(WebhookTaskID(p.EventID)),
		asynq.MaxRetry(WebhookMaxRetry), asynq.Timeout(time.Minute)}, opts...)
	return asynq.NewTask(TypeWebhook, raw, opts...), nil
}

// DecodeWebhook reads a TypeWebhook payload.
func DecodeWebhook(raw []byte) (Webhook, error) {
	var p Webhook
	if err := decode(raw, &p); err != nil {
		return p, fmt.Errorf("%s: %w: %v", TypeWebhook, ErrBadPayload, err)
	}
	if p.EventID == "" || p.URL == "" || len(p.Body) == 0 {
		return p, fmt.Errorf("%s: %w: event_id, url or body missing", TypeWebhook, ErrBadPayload)
	}
	return p, nil
}
