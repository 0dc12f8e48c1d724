package cce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// maxAnswer bounds how much of an answer body is read.
const maxAnswer = 1 << 20

// call sends one request under the client's timeout and decodes a 2xx answer
// into out. Error answers become *Error, with each of hide taken out of the
// body first (see loginSecrets) and key material never kept (see
// hideKeyMaterial); a call that got no answer is wrapped
// in a sendError that knows whether the request may have been sent.
func (c *Client) call(ctx context.Context, op, method, path string, body []byte, hide [][]byte, out any) error {
	err := c.callOnce(ctx, op, method, path, body, hide, out)
	var e *Error
	if r, ok := c.auth.(Renewer); ok && errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized {
		// CCE refused the credentials: nothing was done. Renewable ones
		// are renewed, and the call is sent once more.
		if r.Renew(&http.Request{URL: &url.URL{Path: path}}) {
			return c.callOnce(ctx, op, method, path, body, hide, out)
		}
	}
	return err
}

func (c *Client) callOnce(ctx context.Context, op, method, path string, body []byte, hide [][]byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var sent atomic.Bool
	trace := &httptrace.ClientTrace{
		// The request line goes out just before the first header field.
		WroteHeaderField: func(string, []string) { sent.Store(true) },
		WroteHeaders:     func() { sent.Store(true) },
	}
	ctx = httptrace.WithClientTrace(ctx, trace)

	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return fmt.Errorf("cce %s: build request: %w", op, &sendError{err: err})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if err := c.auth.Authenticate(req, body); err != nil {
		return fmt.Errorf("cce %s: authenticate: %w", op, &sendError{err: fmt.Errorf("%w: %w", ErrCredentials, err)})
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(op, 0, time.Since(start))
		return fmt.Errorf("cce %s: %w", op, &sendError{err: err, sent: sent.Load()})
	}
	defer resp.Body.Close()
	c.observe(op, resp.StatusCode, time.Since(start))
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Whatever part of the body arrived is enough: the status decides.
		return hideKeyMaterial(parseErrorBody(op, resp.StatusCode, resp.Header, hideSecrets(data, hide), time.Now()))
	}
	requestID := resp.Header.Get("X-Request-Id")
	if readErr != nil {
		return fmt.Errorf("cce %s: %w: read body (request id %s): %w", op, ErrBadAnswer, requestID, readErr)
	}
	if raw, ok := out.(*certBody); ok {
		// A kubeconfig with a private key: a decoding error would quote it.
		if !json.Valid(data) {
			return fmt.Errorf("cce %s: %w: the body is not JSON (request id %s)", op, ErrBadAnswer, requestID)
		}
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("cce %s: %w: decode body (request id %s): %w", op, ErrBadAnswer, requestID, err)
	}
	return nil
}

// observe reports one call to the configured observer, if any.
func (c *Client) observe(op string, status int, d time.Duration) {
	if c.observer != nil {
		c.observer(op, status, d)
	}
}
