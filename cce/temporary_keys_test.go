package cce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

const someNode = "00000000-0000-4000-8000-000000000001"

// keysWorld is a fake IAM whose temporary keys last 20 s, and a fake CCE
// that accepts them, on one clock.
func keysWorld(t *testing.T, clock *testkit.Clock) (*ccetest.IAM, *ccetest.Server) {
	t.Helper()
	iam := ccetest.NewIAM(ccetest.IAMOptions{IdPID: "idp-cce-cluster", KeyTTL: 20 * time.Second, TokenTTL: time.Hour, Now: clock.Now})
	t.Cleanup(iam.Close)
	srv := ccetest.NewServer(ccetest.Options{IAM: iam, Now: clock.Now, AutoNodes: true})
	t.Cleanup(srv.Close)
	return iam, srv
}

func clientWith(t *testing.T, srv *ccetest.Server, auth cce.Authenticator) *cce.Client {
	t.Helper()
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: auth, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertHidden fails if any rendering of v shows one of secrets.
func assertHidden(t *testing.T, v any, secrets ...string) {
	t.Helper()
	raw, _ := json.Marshal(v)
	shown := fmt.Sprintf("%v %+v %#v %x %s", v, v, v, v, raw)
	for _, s := range secrets {
		if s != "" && strings.Contains(shown, s) {
			t.Errorf("a secret shows: %s", shown)
		}
	}
}

// TestECSMetadataKeysAreRenewed: the agency's key from the metadata
// service signs the calls, is kept while fresh, renewed once half of its
// 20 s has passed (40 minutes before the end, for a long one), and at once
// when it has expired.
func TestECSMetadataKeysAreRenewed(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam, srv := keysWorld(t, clock)
	md := ccetest.NewMetadata(ccetest.MetadataOptions{IAM: iam})
	t.Cleanup(md.Close)
	auth := &cce.TemporaryKeys{Source: cce.ECSMetadata{Endpoint: md.URL}, What: "ECS metadata", Now: clock.Now}
	c := clientWith(t, srv, auth)
	show := func() error {
		_, err := c.ShowNode(context.Background(), project, "c1", someNode)
		return err
	}
	for range 3 {
		if err := show(); err != nil {
			t.Fatal(err)
		}
	}
	if n := iam.KeysIssued(); n != 1 {
		t.Fatalf("%d keys for three calls, want 1", n)
	}
	clock.Advance(9 * time.Second)
	if err := show(); err != nil || iam.KeysIssued() != 1 {
		t.Fatalf("at 9 s of 20: %v, %d keys", err, iam.KeysIssued())
	}
	clock.Advance(2 * time.Second)
	if err := show(); err != nil || iam.KeysIssued() != 2 {
		t.Fatalf("at 11 s of 20: %v, %d keys", err, iam.KeysIssued())
	}
	clock.Advance(time.Minute)
	if err := show(); err != nil || iam.KeysIssued() != 3 {
		t.Fatalf("a minute later: %v, %d keys", err, iam.KeysIssued())
	}
	k, err := auth.Key(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	assertHidden(t, auth, k.SK, k.SecurityToken)
}

// TestECSMetadataAwayIsACredentialsError: without a metadata service the
// call is not sent, and its error is of the credentials class, naming the
// source.
func TestECSMetadataAwayIsACredentialsError(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam, srv := keysWorld(t, clock)
	md := ccetest.NewMetadata(ccetest.MetadataOptions{IAM: iam})
	gone := md.URL
	md.Close()
	c := clientWith(t, srv, &cce.TemporaryKeys{Source: cce.ECSMetadata{Endpoint: gone}, What: "ECS metadata", Now: clock.Now})
	_, err := c.ShowNode(context.Background(), project, "c1", someNode)
	if !errors.Is(err, cce.ErrCredentials) || cce.Classify(err) != cce.ClassCredentials || !strings.Contains(err.Error(), "ECS metadata") {
		t.Fatalf("err %v (class %v), want a credentials error naming ECS metadata", err, cce.Classify(err))
	}
	if len(srv.Removals()) != 0 || iam.KeysIssued() != 0 {
		t.Error("something was issued or sent")
	}
}

// TestWorkloadIdentityFollowsTheProjectedToken: the Pod's token is
// exchanged for a key; the kubelet rotates the file and the old token
// expires, and the next key comes from the new token, without a restart;
// a token IAM never issued is a credentials error.
func TestWorkloadIdentityFollowsTheProjectedToken(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	iam, srv := keysWorld(t, clock)
	tokenFile := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(tokenFile+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tokenFile+".tmp", tokenFile); err != nil { // as the kubelet swaps it
			t.Fatal(err)
		}
	}
	first := iam.IssueIDToken(30 * time.Second)
	write(first)
	auth := &cce.TemporaryKeys{Source: &cce.WorkloadIdentity{IAMEndpoint: iam.URL, IdPID: "idp-cce-cluster", TokenFile: tokenFile}, What: "workload identity", Now: clock.Now}
	c := clientWith(t, srv, auth)
	show := func() error {
		_, err := c.ShowNode(context.Background(), project, "c1", someNode)
		return err
	}
	if err := show(); err != nil || iam.KeysIssued() != 1 {
		t.Fatalf("first call: %v, %d keys", err, iam.KeysIssued())
	}
	second := iam.IssueIDToken(time.Hour)
	write(second)
	clock.Advance(31 * time.Second) // the first token and the key have expired
	if err := show(); err != nil || iam.KeysIssued() != 2 {
		t.Fatalf("after the rotation: %v, %d keys", err, iam.KeysIssued())
	}
	assertHidden(t, auth, first, second)

	write("eyJnot-issued-by-the-cluster")
	clock.Advance(time.Minute)
	_, err := c.ShowNode(context.Background(), project, "c1", someNode)
	if cce.Classify(err) != cce.ClassCredentials || !strings.Contains(err.Error(), "identity token") {
		t.Fatalf("a token IAM did not issue: %v", err)
	}
	if strings.Contains(err.Error(), "eyJnot") {
		t.Error("the error shows the token")
	}
}

// TestKeyFilesAreReadAgain: a rotated key pair in the files is used
// without a restart, both when the files change and when CCE refuses the
// old pair.
func TestKeyFilesAreReadAgain(t *testing.T) {
	srv := ccetest.NewServer(ccetest.Options{AK: "AKNEW", SK: "sk-new-never-shown", AutoNodes: true})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	akFile, skFile := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	write := func(ak, sk string) {
		t.Helper()
		if os.WriteFile(akFile, []byte(ak+"\n"), 0o600) != nil || os.WriteFile(skFile, []byte(sk+"\n"), 0o600) != nil {
			t.Fatal("write the key files")
		}
	}
	write("AKOLD", "sk-old-never-shown")
	auth := &cce.KeyFiles{AKFile: akFile, SKFile: skFile}
	c := clientWith(t, srv, auth)
	_, err := c.ShowNode(context.Background(), project, "c1", someNode)
	if cce.Classify(err) != cce.ClassCredentials {
		t.Fatalf("the old pair: %v, want refused", err)
	}
	write("AKNEW", "sk-new-never-shown")
	if _, err := c.ShowNode(context.Background(), project, "c1", someNode); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	assertHidden(t, auth, "sk-new-never-shown", "sk-old-never-shown")

	missing := &cce.KeyFiles{AKFile: filepath.Join(dir, "none"), SKFile: skFile}
	_, err = clientWith(t, srv, missing).ShowNode(context.Background(), project, "c1", someNode)
	if !errors.Is(err, cce.ErrCredentials) || !strings.Contains(err.Error(), "HUAWEICLOUD_SDK_AK_FILE") {
		t.Errorf("a missing AK file: %v", err)
	}
}
