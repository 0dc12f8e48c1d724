package cce_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
)

func TestUnusable200Answers(t *testing.T) {
	tests := map[string]struct {
		answer string
		call   func(*cce.Client) error
	}{
		"RemoveNodesWithoutJobID": {`{"spec":{}}`, func(c *cce.Client) error {
			_, err := c.RemoveNodes(t.Context(), "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
			return err
		}},
		"RemoveNodesNotJSON": {`<html>ok</html>`, func(c *cce.Client) error {
			_, err := c.RemoveNodes(t.Context(), "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
			return err
		}},
		"ShowJobNotJSON": {`not json`, func(c *cce.Client) error {
			_, err := c.ShowJob(t.Context(), "p", "j")
			return err
		}},
		"ShowJobWithoutPhase": {`{"metadata":{"uid":"j"}}`, func(c *cce.Client) error {
			_, err := c.ShowJob(t.Context(), "p", "j")
			return err
		}},
		"ShowNodeWithoutUID": {`{"status":{"phase":"Active"}}`, func(c *cce.Client) error {
			_, err := c.ShowNode(t.Context(), "p", "c", "n")
			return err
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv, _ := newRecorder(t, 200, tt.answer)
			err := tt.call(newClient(t, srv.URL, cce.TokenAuth{Token: "t"}))
			if !errors.Is(err, cce.ErrBadAnswer) || cce.Classify(err) != cce.ClassRetryable || !cce.MaybeApplied(err) {
				t.Errorf("err = %v (Classify %v, MaybeApplied %v); want ErrBadAnswer, retryable, maybe applied",
					err, cce.Classify(err), cce.MaybeApplied(err))
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("DialRefusedIsNotApplied", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := newClient(t, "http://"+addr, cce.TokenAuth{Token: "t"})
		_, err = c.RemoveNodes(t.Context(), "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
		if err == nil || cce.MaybeApplied(err) || cce.Classify(err) != cce.ClassRetryable {
			t.Errorf("err = %v: want retryable and not applied", err)
		}
	})
	t.Run("CanceledBeforeSendIsNotApplied", func(t *testing.T) {
		srv, seen := newRecorder(t, 200, `{}`)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, srv.URL, cce.TokenAuth{Token: "t"}).
			RemoveNodes(ctx, "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
		if !errors.Is(err, context.Canceled) || cce.MaybeApplied(err) || cce.Classify(err) != cce.ClassPermanent {
			t.Errorf("err = %v: want context.Canceled, permanent, not applied", err)
		}
		if len(seen()) != 0 {
			t.Error("a cancelled call reached the server")
		}
	})
	t.Run("TimeoutAfterSendMayBeApplied", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: cce.TokenAuth{Token: "t"}, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RemoveNodes(t.Context(), "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
		if !errors.Is(err, context.DeadlineExceeded) || !cce.MaybeApplied(err) || cce.Classify(err) != cce.ClassRetryable {
			t.Errorf("err = %v: want deadline exceeded, retryable, maybe applied", err)
		}
	})
}

func TestRedirectIsNotFollowed(t *testing.T) {
	target, targetSeen := newRecorder(t, 200, `{"metadata":{"uid":"j"},"status":{"phase":"Success"}}`)
	srv := httptest.NewServer(http.RedirectHandler(target.URL+"/steal", http.StatusTemporaryRedirect))
	defer srv.Close()
	_, err := newClient(t, srv.URL, cce.TokenAuth{Token: "secret-token"}).ShowJob(t.Context(), "p", "j")
	var e *cce.Error
	if !errors.As(err, &e) || e.StatusCode != 307 || cce.Classify(err) != cce.ClassPermanent || cce.MaybeApplied(err) {
		t.Errorf("err = %v, want *Error 307, permanent, not applied", err)
	}
	if n := len(targetSeen()); n != 0 {
		t.Errorf("the redirect was followed: the other host saw %d requests", n)
	}
}

func TestAuthenticatorErrorIsNotApplied(t *testing.T) {
	srv, seen := newRecorder(t, 200, `{}`)
	failing := authFunc(func(*http.Request, []byte) error { return errors.New("token service down") })
	_, err := newClient(t, srv.URL, failing).RemoveNodes(t.Context(), "p", "c", cce.Login{SSHKey: "k"}, []string{"n"})
	if err == nil || cce.MaybeApplied(err) || cce.Classify(err) != cce.ClassCredentials || !errors.Is(err, cce.ErrCredentials) {
		t.Errorf("err = %v: want a credentials error, not applied", err)
	}
	if len(seen()) != 0 {
		t.Error("the request was sent without credentials")
	}
}

// authFunc adapts a function to cce.Authenticator.
type authFunc func(r *http.Request, body []byte) error

func (f authFunc) Authenticate(r *http.Request, body []byte) error { return f(r, body) }
