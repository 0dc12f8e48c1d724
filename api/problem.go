package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/enqueuer"
)

// problem is an error answer, an RFC 9457 problem detail. Its type is a
// stable URI under problemBase naming the kind of problem (clients branch on
// it: node-busy and request-id-conflict are both 409); the extension members
// after instance appear only where they apply.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`

	// Field names what is wrong in a 400: a body member ("nodes[2]"), a
	// query parameter ("limit") or the path's request id ("request_id").
	Field string `json:"field,omitempty"`
	// RequestID is the request the problem is about.
	RequestID string `json:"request_id,omitempty"`
	// NodeUID and OtherRequestID: the busy node and the unfinished request
	// that holds it.
	NodeUID        string `json:"node_uid,omitempty"`
	OtherRequestID string `json:"other_request_id,omitempty"`
	// State and JobID: where a request that cannot be cancelled stands and
	// the CCE job that removes its nodes.
	State enqueuer.State `json:"state,omitempty"`
	JobID string         `json:"job_id,omitempty"`
}

// problemBase prefixes every problem type. The URIs identify; they are not
// fetched.
const problemBase = "https://noderemover.dev/problems/"

// Problem types, one per kind of error answer.
const (
	typeInvalid          = problemBase + "invalid-request"
	typeUnauthorized     = problemBase + "unauthorized"
	typeNotFound         = problemBase + "not-found"
	typeMethodNotAllowed = problemBase + "method-not-allowed"
	typeTooLarge         = problemBase + "body-too-large"
	typeMediaType        = problemBase + "unsupported-media-type"
	typeNodeBusy         = problemBase + "node-busy"
	typeIDConflict       = problemBase + "request-id-conflict"
	typeNotCancellable   = problemBase + "not-cancellable"
	typeUnavailable      = problemBase + "redis-unavailable"
	typeNoWorker         = problemBase + "no-worker"
	typeInternal         = problemBase + "internal-error"
)

const titleNotFound = "Not found"

// retryAfterSeconds is what a 503 asks the caller to wait: long enough for a
// Redis failover, short enough not to matter for a removal.
const retryAfterSeconds = 5

// writeProblem sends p as application/problem+json; instance is the path
// as the request gave it.
func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	p.Instance = r.URL.EscapedPath()
	raw, err := json.Marshal(p)
	if err != nil { // a struct of strings and an int: cannot happen
		raw = []byte(`{"type":"` + typeInternal + `","title":"Internal server error","status":500,"detail":"","instance":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(raw, '\n'))
}

// errUnsupportedMediaType: a body that is not application/json.
type errUnsupportedMediaType struct{ got string }

func (e errUnsupportedMediaType) Error() string {
	if e.got == "" {
		return "the request has no Content-Type; send the body as application/json"
	}
	return fmt.Sprintf("Content-Type %q is not served; send the body as application/json", e.got)
}

// fail answers err, an error of decoding or of the enqueuer, about request
// id (empty when none is known). Errors callers can act on get their own
// status; Redis not answering (enqueuer.ErrUnavailable) is 503 with
// Retry-After; anything else is a 500 internal error. The cause of a 503 or
// 500 is logged, never sent.
func (s *server) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	var (
		invalid   *enqueuer.InvalidError
		busy      *enqueuer.NodeBusyError
		notCancel *enqueuer.NotCancellableError
		mediaType errUnsupportedMediaType
		tooLarge  *http.MaxBytesError
		p         problem
	)
	switch {
	case errors.As(err, &invalid):
		p = problem{Type: typeInvalid, Title: "Invalid request", Status: http.StatusBadRequest,
			Detail: invalidDetail(invalid), Field: invalid.Field}
	case errors.As(err, &tooLarge):
		p = problem{Type: typeTooLarge, Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body is larger than %d bytes (a request of %d nodes takes about 10 KiB)", tooLarge.Limit, enqueuer.MaxNodes)}
	case errors.As(err, &mediaType):
		p = problem{Type: typeMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType, Detail: mediaType.Error()}
	case errors.As(err, &busy):
		p = problem{Type: typeNodeBusy, Title: "Node busy", Status: http.StatusConflict, Detail: busy.Error(),
			RequestID: id, NodeUID: busy.Node, OtherRequestID: busy.RequestID}
	case errors.Is(err, enqueuer.ErrConflict):
		p = problem{Type: typeIDConflict, Title: "Request id already used", Status: http.StatusConflict, RequestID: id,
			Detail: fmt.Sprintf("request id %s is already used by a request for other nodes, cluster, project or login; "+
				"send that request unchanged or choose another id", id)}
	case errors.As(err, &notCancel):
		p = problem{Type: typeNotCancellable, Title: "Request cannot be cancelled", Status: http.StatusConflict,
			Detail: notCancel.Error(), RequestID: notCancel.RequestID, State: notCancel.State, JobID: notCancel.JobID}
	case errors.Is(err, enqueuer.ErrNotFound):
		p = problem{Type: typeNotFound, Title: titleNotFound, Status: http.StatusNotFound, RequestID: id,
			Detail: fmt.Sprintf("request %s not found: never enqueued, or its record expired (RECORD_TTL)", id)}
	case errors.Is(err, enqueuer.ErrUnavailable), r.Context().Err() != nil && errors.Is(err, context.Canceled):
		p = problem{Type: typeUnavailable, Title: "Redis unavailable", Status: http.StatusServiceUnavailable, RequestID: id,
			Detail: fmt.Sprintf("the request store did not answer; try again in %d seconds "+
				"(sending a request again with the same request_id is safe)", retryAfterSeconds)}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		ev, msg := s.exchangeOf(r).log.Error(), "redis call failed; answered 503"
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			ev, msg = s.exchangeOf(r).log.Info(), "the caller went away before the answer"
		}
		s.logFailure(ev, r, id, err, msg)
	default:
		p = problem{Type: typeInternal, Title: "Internal server error", Status: http.StatusInternalServerError, RequestID: id,
			Detail: "the request could not be served because of an error on our side; it was logged with this answer's " +
				requestIDHeader + " (trying again will not help until it is fixed)"}
		s.logFailure(s.exchangeOf(r).log.Error(), r, id, err, "internal error; answered 500")
	}
	writeProblem(w, r, p)
}

// logFailure logs the cause of a 503 or 500 with what the call was.
func (s *server) logFailure(ev *zerolog.Event, r *http.Request, id string, err error, msg string) {
	if id != "" {
		ev = ev.Str("request_id", id)
	}
	ev.Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg(msg)
}

// invalidDetail says what is wrong, naming the field when there is one.
func invalidDetail(e *enqueuer.InvalidError) string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Error()
}
