package cce_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

const (
	iamPassword = "Pa55-word-never-shown"
	project     = "0123456789abcdef0123456789abcdef"
)

func iamClient(t *testing.T, clock *testkit.Clock, authNow func() time.Time, password func() (string, error)) (*cce.Client, *ccetest.IAM, *cce.IAMPassword) {
	t.Helper()
	iam := ccetest.NewIAM(ccetest.IAMOptions{Domain: "acme", Users: map[string]string{"robot": iamPassword}, TokenTTL: 20 * time.Second, Now: clock.Now})
	t.Cleanup(iam.Close)
	srv := ccetest.NewServer(ccetest.Options{IAM: iam, Now: clock.Now, AutoNodes: true})
	t.Cleanup(srv.Close)
	auth := &cce.IAMPassword{Endpoint: iam.URL, Domain: "acme", User: "robot", Password: password, Now: authNow}
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: auth, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, iam, auth
}

// TestIAMPasswordRenewsItsToken: one token per project, renewed once half
// its life has passed, never shown.
func TestIAMPasswordRenewsItsToken(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	reads := 0
	c, iam, auth := iamClient(t, clock, clock.Now, func() (string, error) { reads++; return iamPassword, nil })
	ctx := context.Background()
	show := func() error {
		_, err := c.ShowNode(ctx, project, "c1", "00000000-0000-4000-8000-000000000001")
		return err
	}
	for range 3 {
		if err := show(); err != nil {
			t.Fatal(err)
		}
	}
	if n := iam.Issued(); n != 1 {
		t.Fatalf("%d tokens for three calls, want 1", n)
	}
	clock.Advance(9 * time.Second)
	if err := show(); err != nil || iam.Issued() != 1 {
		t.Fatalf("at 9 s of 20: %v, %d tokens", err, iam.Issued())
	}
	clock.Advance(2 * time.Second) // past half its life
	if err := show(); err != nil || iam.Issued() != 2 {
		t.Fatalf("at 11 s of 20: %v, %d tokens", err, iam.Issued())
	}
	clock.Advance(time.Minute) // long after it expired: a new one first
	if err := show(); err != nil || iam.Issued() != 3 {
		t.Fatalf("after a minute: %v, %d tokens", err, iam.Issued())
	}
	if reads != 3 {
		t.Errorf("the password was read %d times, want once per token", reads)
	}
	raw, _ := json.Marshal(auth)
	for _, s := range []string{auth.String(), fmt.Sprintf("%v %+v %#v %x", auth, auth, auth, auth), string(raw)} {
		if strings.Contains(s, iamPassword) {
			t.Errorf("the password shows: %s", s)
		}
	}
}

// TestIAMPasswordRenewsOn401: a token CCE refuses is renewed and the call
// sent once more; a wrong password is an error that does not show it.
func TestIAMPasswordRenewsOn401(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	// The worker's clock lags CCE's by 15 s: it keeps a token CCE says expired.
	lag := func() time.Time { return clock.Now().Add(-15 * time.Second) }
	c, iam, _ := iamClient(t, clock, lag, func() (string, error) { return iamPassword, nil })
	ctx := context.Background()
	node := "00000000-0000-4000-8000-000000000001"
	if _, err := c.ShowNode(ctx, project, "c1", node); err != nil {
		t.Fatal(err)
	}
	clock.Advance(21 * time.Second) // expired at CCE; 6 s old for the worker
	if _, err := c.ShowNode(ctx, project, "c1", node); err != nil {
		t.Fatalf("after a 401 the token is renewed and the call sent again: %v", err)
	}
	if n := iam.Issued(); n != 2 {
		t.Errorf("%d tokens, want 2", n)
	}

	bad, _, _ := iamClient(t, clock, clock.Now, func() (string, error) { return "wrong-" + iamPassword, nil })
	_, err := bad.ShowNode(ctx, project, "c1", node)
	if err == nil || !strings.Contains(err.Error(), "IAM refused") || strings.Contains(err.Error(), iamPassword) {
		t.Errorf("a wrong password: %v", err)
	}
}
