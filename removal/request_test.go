package removal_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/removal"
)

const uid1 = "11111111-1111-4111-8111-111111111111"

func validRequest() removal.Request {
	return removal.Request{ID: "r-1", ProjectID: "p1", ClusterID: "c1", Nodes: []string{uid1}, Login: removal.Login{SSHKey: "key"}}
}

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return out
}

func TestValidate(t *testing.T) {
	hash, err := removal.HashPassword("Pa55word!", "root")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*removal.Request)
		field  string // "" = valid
	}{
		{"Valid", func(*removal.Request) {}, ""},
		{"ValidPassword", func(r *removal.Request) { r.Login = removal.Login{Username: "root", PasswordHash: hash} }, ""},
		{"Valid200Nodes", func(r *removal.Request) { r.Nodes = nodes(200) }, ""},
		{"NoID", func(r *removal.Request) { r.ID = "" }, "request_id"},
		{"BadID", func(r *removal.Request) { r.ID = "a b" }, "request_id"},
		{"LongID", func(r *removal.Request) { r.ID = strings.Repeat("a", 129) }, "request_id"},
		{"NoProject", func(r *removal.Request) { r.ProjectID = "" }, "project_id"},
		{"BadProject", func(r *removal.Request) { r.ProjectID = "../etc" }, "project_id"},
		{"NoCluster", func(r *removal.Request) { r.ClusterID = "" }, "cluster_id"},
		{"BadCluster", func(r *removal.Request) { r.ClusterID = "c/1" }, "cluster_id"},
		{"NoNodes", func(r *removal.Request) { r.Nodes = nil }, "nodes"},
		{"TooManyNodes", func(r *removal.Request) { r.Nodes = nodes(201) }, "nodes"},
		{"BadNode", func(r *removal.Request) { r.Nodes = []string{uid1, "node-2"} }, "nodes[1]"},
		{"EmptyNode", func(r *removal.Request) { r.Nodes = []string{""} }, "nodes[0]"},
		{"DuplicateNode", func(r *removal.Request) { r.Nodes = []string{uid1, strings.ToUpper(uid1)} }, "nodes[1]"},
		{"NoLogin", func(r *removal.Request) { r.Login = removal.Login{} }, "login"},
		{"BothLogins", func(r *removal.Request) { r.Login.PasswordHash = hash }, "login"},
		{"UsernameWithKey", func(r *removal.Request) { r.Login.Username = "root" }, "username"},
		{"BadKey", func(r *removal.Request) { r.Login.SSHKey = "my key" }, "ssh_key"},
		{"PlainPassword", func(r *removal.Request) { r.Login = removal.Login{Username: "root", PasswordHash: "hunter2"} }, "password"},
		{"BadUsername", func(r *removal.Request) { r.Login = removal.Login{Username: "Root User", PasswordHash: hash} }, "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validRequest()
			tc.change(&r)
			err := r.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ie *removal.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field || !errors.Is(err, removal.ErrInvalid) {
				t.Fatalf("error %v, want an InvalidError for %s", err, tc.field)
			}
			if ie.Problem == "" {
				t.Error("no problem stated")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	r := removal.Request{ID: " r ", ProjectID: "p ", ClusterID: " c", Nodes: []string{" " + strings.ToUpper(uid1) + " "}}
	r.Normalize()
	if r.ID != "r" || r.ProjectID != "p" || r.ClusterID != "c" || r.Nodes[0] != uid1 {
		t.Errorf("normalized to %+v", r)
	}
}

func TestFingerprintIgnoresOrderAndSalt(t *testing.T) {
	h1, _ := removal.HashPassword("Same-Pa55word", "root")
	h2, _ := removal.HashPassword("Same-Pa55word", "root")
	a := removal.Request{ID: "a", ProjectID: "p", ClusterID: "c", Nodes: nodes(3), Login: removal.Login{Username: "root", PasswordHash: h1}}
	b := a
	b.Nodes = []string{a.Nodes[2], a.Nodes[0], a.Nodes[1]}
	b.Login.PasswordHash = h2
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("same request, different fingerprint")
	}
	c := a
	c.Nodes = nodes(2)
	if a.Fingerprint() == c.Fingerprint() {
		t.Error("different nodes, same fingerprint")
	}
	d := a
	d.Region = "eu-west-101"
	if a.Fingerprint() == d.Fingerprint() {
		t.Error("different region, same fingerprint")
	}
}

func TestValidRegion(t *testing.T) {
	for _, ok := range []string{"", "cn-north-4", "eu-west-101", "my-kualalumpur-1"} {
		if err := removal.ValidRegion(ok); err != nil {
			t.Errorf("ValidRegion(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"North 4", "cn", "CN-NORTH-4", "cn_north_4", "cn-north-4/x"} {
		var inv *removal.InvalidError
		if err := removal.ValidRegion(bad); !errors.As(err, &inv) || inv.Field != "region" {
			t.Errorf("ValidRegion(%q) = %v, want an InvalidError naming region", bad, err)
		}
	}
}

func TestHashPassword(t *testing.T) {
	h, err := removal.HashPassword("Pa55word!", "root")
	if err != nil {
		t.Fatal(err)
	}
	if err := removal.CheckPasswordHash(h); err != nil {
		t.Fatalf("own hash rejected: %v", err)
	}
	if strings.Contains(h, "Pa55word") {
		t.Fatal("hash holds the password")
	}
	if !removal.VerifyPassword(h, "Pa55word!") || removal.VerifyPassword(h, "other") {
		t.Error("hash does not verify")
	}
	h2, _ := removal.HashPassword("Pa55word!", "root")
	if h == h2 {
		t.Error("no random salt")
	}
	// What it refuses: TestCheckPassword.
}

func TestLoginKeyHidesTheHash(t *testing.T) {
	h, _ := removal.HashPassword("Pa55word!", "root")
	k := removal.Login{Username: "root", PasswordHash: h}.Key()
	if strings.Contains(k, h) || !strings.HasPrefix(k, "password:root:") {
		t.Errorf("key %q", k)
	}
	if (removal.Login{SSHKey: "k"}).Key() != "ssh:k" {
		t.Error("ssh key")
	}
}

// An InvalidError about the whole input (no field) reads as its problem
// alone, not ": problem".
func TestInvalidErrorWithoutAField(t *testing.T) {
	for _, c := range []struct {
		err  removal.InvalidError
		want string
	}{
		{removal.InvalidError{Field: "nodes", Problem: "is empty"}, "nodes: is empty"},
		{removal.InvalidError{Problem: "the body is not valid JSON"}, "the body is not valid JSON"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}
