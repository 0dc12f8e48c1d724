package cce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrInvalidInput is wrapped by errors for arguments rejected before any
// request is sent. Such errors are permanent and never applied.
var ErrInvalidInput = errors.New("invalid input")

// ErrBadAnswer is wrapped by errors for a 2xx answer the client cannot use
// (a body that is not the expected JSON, a removal answer without a job id, a
// body cut short). CCE did accept the request, so such errors are retryable
// and MaybeApplied.
var ErrBadAnswer = errors.New("answer not understood")

// Class says what a caller should do about an error.
type Class int

// The classes. The zero Class is none of them (Classify(nil) returns it).
const (
	// ClassRetryable: try again after a backoff, counting an attempt.
	ClassRetryable Class = iota + 1
	// ClassThrottled: try again later, honouring Error.RetryAfter; not a failure.
	ClassThrottled
	// ClassPermanent: trying again will not help.
	ClassPermanent
	// ClassCredentials: CCE refused the caller's credentials (401, or a 403
	// that forbids the caller rather than naming a resource): nothing was
	// done, and the same call may go once the credentials work again.
	ClassCredentials
)

// ErrCredentials matches an error of a call that could not be
// authenticated at all (no token could be had from IAM, a token file that
// cannot be read): the call was not sent.
var ErrCredentials = errors.New("no credentials")

// String returns "retryable", "throttled" or "permanent".
func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassThrottled:
		return "throttled"
	case ClassPermanent:
		return "permanent"
	case ClassCredentials:
		return "credentials"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Error is an error answer from CCE or its gateway.
type Error struct {
	Op         string        // "RemoveNodes", "ShowJob", "ShowNode" or "ClusterCert"
	StatusCode int           // HTTP status
	Code       string        // "CCE.01429002", "APIG.0308", ...; "" when the body had none
	Message    string        // CCE's message, or a short single-line excerpt of a non-JSON body
	RequestID  string        // the X-Request-Id answer header
	RetryAfter time.Duration // from Retry-After; 0 when absent or unparsable
}

// Error reads like `cce RemoveNodes: HTTP 404 CCE.01404001: node x not found
// (request id abc)`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cce %s: HTTP %d", e.Op, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// classKey keys the class table; Code "" matches any code of that status.
type classKey struct {
	status int
	code   string
}

// classes is the one table from (HTTP status, code) to Class, after the
// reference's error table. A (status, code) row wins over a (status, "") row;
// statuses absent from the table fall back to 5xx retryable and anything else
// permanent.
var classes = map[classKey]Class{
	{400, ""}:             ClassPermanent,   // CCE.01400001…3 invalid request, CCE.01400006 content type
	{401, ""}:             ClassCredentials, // CCE.01401001 authorization failed (an expired token, a bad signature)
	{403, ""}:             ClassPermanent,
	{403, "CCE.01403001"}: ClassCredentials, // forbidden: the caller's IAM permissions
	{403, "CCE.01403003"}: ClassRetryable,   // CCE.01403003…9: state does not allow it now
	{403, "CCE.01403004"}: ClassRetryable,
	{403, "CCE.01403005"}: ClassRetryable,
	{403, "CCE.01403006"}: ClassRetryable,
	{403, "CCE.01403007"}: ClassRetryable,
	{403, "CCE.01403008"}: ClassRetryable,
	{403, "CCE.01403009"}: ClassRetryable,
	{404, ""}:             ClassPermanent, // CCE.01404001 not found
	{408, ""}:             ClassRetryable, // timeout
	{409, ""}:             ClassPermanent, // CCE.01409001 already exists
	{409, "CCE.01409002"}: ClassRetryable, // stale version
	{429, ""}:             ClassThrottled, // CCE.01429002 locked, CCE.01429003, CCE.02429001, APIG(W).0308
}

// Class looks e up in the class table.
func (e *Error) Class() Class {
	if c, ok := classes[classKey{e.StatusCode, e.Code}]; ok {
		return c
	}
	if c, ok := classes[classKey{e.StatusCode, ""}]; ok {
		return c
	}
	if e.StatusCode >= 500 {
		return ClassRetryable
	}
	return ClassPermanent
}

// Classify returns the class of any error a Client method returned: an
// *Error's own class; permanent for invalid input and for a cancelled
// context; retryable for everything else (transport errors, timeouts,
// answers that could not be read or decoded). Classify(nil) is 0.
func Classify(err error) Class {
	var e *Error
	var timeout interface{ Timeout() bool }
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrCredentials):
		return ClassCredentials
	case errors.As(err, &e):
		return e.Class()
	case errors.Is(err, ErrInvalidInput):
		return ClassPermanent
	case errors.Is(err, ErrBadAnswer), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &timeout) && timeout.Timeout():
		return ClassRetryable
	case errors.Is(err, context.Canceled):
		return ClassPermanent
	}
	return ClassRetryable
}

// IsNotFound reports whether CCE answered that the cluster, node or job does
// not exist: HTTP 404 with a CCE code. A 404 without one (a gateway's
// "APIG.0101 no such API", a load balancer's page) means a wrong endpoint, not
// a removed node, and is not reported.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound && strings.HasPrefix(e.Code, "CCE.")
}

// IsClusterBusy reports whether another operation holds the cluster
// (CCE.01429002): wait and try again, it is not a failure.
func IsClusterBusy(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "CCE.01429002"
}

// MaybeApplied reports whether a failed write may nevertheless have been
// carried out by CCE, so that the caller must look before writing again. It
// is true for 408 and 5xx answers, for answers that could not be understood
// and for transport errors once the request may have left (connection reset
// or closed, timeouts, deadline); false for nil, other *Error answers, invalid
// input, and errors from before any byte was sent (such as a failed dial).
func MaybeApplied(err error) bool {
	var e *Error
	var sendErr *sendError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return false
	case errors.As(err, &e):
		return e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
	case errors.Is(err, ErrInvalidInput):
		return false
	case errors.Is(err, ErrBadAnswer):
		return true
	case errors.As(err, &sendErr) && !sendErr.sent:
		return false
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &dnsErr):
		return false
	}
	return true
}

// sendError is a call that failed without an answer, marked with whether
// any byte of the request may have reached the server (known from an
// httptrace hook, or false when it failed before sending).
type sendError struct {
	err  error
	sent bool
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }
