package cce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/noderemover/noderemover/cce"
)

// TestClassTable covers every row of the reference's error table.
func TestClassTable(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   cce.Class
	}{
		{400, "CCE.01400001", cce.ClassPermanent},
		{400, "CCE.01400002", cce.ClassPermanent},
		{400, "CCE.01400003", cce.ClassPermanent},
		{400, "CCE.01400006", cce.ClassPermanent},
		{400, "", cce.ClassPermanent},
		{401, "CCE.01401001", cce.ClassCredentials},
		{401, "APIGW.0301", cce.ClassCredentials},
		{403, "CCE.01403001", cce.ClassCredentials},
		{403, "CCE.01403002", cce.ClassPermanent},
		{403, "CCE.01403003", cce.ClassRetryable},
		{403, "CCE.01403004", cce.ClassRetryable},
		{403, "CCE.01403005", cce.ClassRetryable},
		{403, "CCE.01403006", cce.ClassRetryable},
		{403, "CCE.01403007", cce.ClassRetryable},
		{403, "CCE.01403008", cce.ClassRetryable},
		{403, "CCE.01403009", cce.ClassRetryable},
		{403, "CCE.01403010", cce.ClassPermanent},
		{404, "CCE.01404001", cce.ClassPermanent},
		{404, "APIG.0101", cce.ClassPermanent},
		{408, "", cce.ClassRetryable},
		{409, "CCE.01409001", cce.ClassPermanent},
		{409, "CCE.01409002", cce.ClassRetryable},
		{429, "CCE.01429002", cce.ClassThrottled},
		{429, "CCE.01429003", cce.ClassThrottled},
		{429, "CCE.02429001", cce.ClassThrottled},
		{429, "APIG.0308", cce.ClassThrottled},
		{429, "APIGW.0308", cce.ClassThrottled},
		{429, "", cce.ClassThrottled},
		{500, "CCE.01500001", cce.ClassRetryable},
		{502, "", cce.ClassRetryable},
		{503, "CCE.01500002", cce.ClassRetryable},
		{504, "", cce.ClassRetryable},
		{418, "", cce.ClassPermanent},
		{422, "CCE.01422001", cce.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			e := &cce.Error{Op: "RemoveNodes", StatusCode: tt.status, Code: tt.code}
			if got := e.Class(); got != tt.want {
				t.Errorf("Class() = %v, want %v", got, tt.want)
			}
			if got := cce.Classify(fmt.Errorf("remove: %w", e)); got != tt.want {
				t.Errorf("Classify(wrapped) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		err  error
		want cce.Class
	}{
		"Nil":              {nil, 0},
		"InvalidInput":     {fmt.Errorf("cce RemoveNodes: %w: no nodes", cce.ErrInvalidInput), cce.ClassPermanent},
		"Canceled":         {&url.Error{Op: "Put", URL: "u", Err: context.Canceled}, cce.ClassPermanent},
		"DeadlineExceeded": {&url.Error{Op: "Put", URL: "u", Err: context.DeadlineExceeded}, cce.ClassRetryable},
		"UnexpectedEOF":    {io.ErrUnexpectedEOF, cce.ClassRetryable},
		"ConnRefused":      {&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, cce.ClassRetryable},
		"BadAnswer":        {fmt.Errorf("x: %w: %w", cce.ErrBadAnswer, errors.New("bad json")), cce.ClassRetryable},
		"Other":            {errors.New("boom"), cce.ClassRetryable},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cce.Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[cce.Class]string{
		cce.ClassRetryable: "retryable", cce.ClassThrottled: "throttled", cce.ClassPermanent: "permanent", 0: "Class(0)",
	} {
		if got := c.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestMaybeApplied(t *testing.T) {
	dial := &url.Error{Op: "Put", URL: "u", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	reset := &url.Error{Op: "Put", URL: "u", Err: &net.OpError{Op: "read", Net: "tcp",
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"Nil":          {nil, false},
		"InvalidInput": {fmt.Errorf("%w: x", cce.ErrInvalidInput), false},
		"400":          {&cce.Error{StatusCode: 400}, false},
		"401":          {&cce.Error{StatusCode: 401}, false},
		"404":          {&cce.Error{StatusCode: 404}, false},
		"408":          {&cce.Error{StatusCode: 408}, true},
		"429":          {&cce.Error{StatusCode: 429, Code: "CCE.01429002"}, false},
		"500":          {&cce.Error{StatusCode: 500}, true},
		"502":          {&cce.Error{StatusCode: 502}, true},
		"504":          {&cce.Error{StatusCode: 504}, true},
		"DialRefused":  {dial, false},
		"DNS":          {&url.Error{Op: "Put", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "x"}}, false},
		"Reset":        {reset, true},
		"EOF":          {&url.Error{Op: "Put", URL: "u", Err: io.EOF}, true},
		"Deadline":     {&url.Error{Op: "Put", URL: "u", Err: context.DeadlineExceeded}, true},
		"BadAnswer":    {fmt.Errorf("%w: no job id", cce.ErrBadAnswer), true},
		"Unknown":      {errors.New("something"), true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cce.MaybeApplied(tt.err); got != tt.want {
				t.Errorf("MaybeApplied(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestIsNotFoundAndIsClusterBusy(t *testing.T) {
	notFound := fmt.Errorf("show node: %w", &cce.Error{StatusCode: 404, Code: "CCE.01404001"})
	if !cce.IsNotFound(notFound) || cce.IsClusterBusy(notFound) {
		t.Error("404 CCE.01404001: want IsNotFound only")
	}
	if cce.IsNotFound(&cce.Error{StatusCode: 404, Code: "APIG.0101"}) {
		t.Error("the gateway's 404 for an unknown API is not a missing node")
	}
	if cce.IsNotFound(&cce.Error{StatusCode: 404}) {
		t.Error("a 404 without a CCE code (a load balancer page) is not a missing node")
	}
	busy := &cce.Error{StatusCode: 429, Code: "CCE.01429002"}
	if !cce.IsClusterBusy(busy) || cce.IsNotFound(busy) {
		t.Error("429 CCE.01429002: want IsClusterBusy only")
	}
	if cce.IsClusterBusy(&cce.Error{StatusCode: 429, Code: "APIG.0308"}) || cce.IsNotFound(errors.New("x")) {
		t.Error("other errors are neither")
	}
}

func TestErrorString(t *testing.T) {
	tests := map[string]struct {
		err  *cce.Error
		want string
	}{
		"Full": {&cce.Error{Op: "RemoveNodes", StatusCode: 404, Code: "CCE.01404001", Message: "node x not found", RequestID: "abc"},
			"cce RemoveNodes: HTTP 404 CCE.01404001: node x not found (request id abc)"},
		"NoCodeNoMessage": {&cce.Error{Op: "ShowJob", StatusCode: 502},
			"cce ShowJob: HTTP 502: Bad Gateway"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
