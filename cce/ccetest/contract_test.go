package ccetest_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

func TestRemoveNodesValidation(t *testing.T) {
	srv := newServer(t, ccetest.Options{JobDuration: 0})
	srv.AddNodes(project, cluster, "n1", "n2")
	const json = "application/json"
	nodes := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"uid":"u%d"}`, i)
		}
		return strings.Join(items, ",")
	}
	withLogin := func(login string) string {
		return `{"spec":{"login":` + login + `,"nodes":[{"uid":"n1"}]}}`
	}
	password := func(p string) string {
		return withLogin(`{"userPassword":{"username":"root","password":"` + p + `"}}`)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
		wants                   []string
	}{
		{"BadContentType", "text/plain", removalBody("n1"), 400, "CCE.01400006", []string{"text/plain"}},
		{"NoContentType", "", removalBody("n1"), 400, "CCE.01400006", nil},
		{"OtherCharset", json + "; charset=latin1", removalBody("n1"), 400, "CCE.01400006", []string{"latin1"}},
		{"EmptyBody", json, "", 400, "CCE.01400001", []string{"empty"}},
		{"NotJSON", json, "{", 400, "CCE.01400001", nil},
		{"TrailingData", json, removalBody("n1") + "{}", 400, "CCE.01400001", []string{"after"}},
		{"UnknownField", json, `{"spec":{"login":{"sshKey":"k"},"nodes":[{"uid":"n1"}]},"force":true}`, 400, "CCE.01400001", []string{"force"}},
		{"UnknownNestedField", json, withLogin(`{"sshKey":"k","keyPair":"x"}`), 400, "CCE.01400001", []string{"keyPair"}},
		{"BadAPIVersion", json, `{"apiVersion":"v2","spec":{}}`, 400, "CCE.01400001", []string{"apiVersion"}},
		{"BadKind", json, `{"kind":"Task","spec":{}}`, 400, "CCE.01400001", []string{"kind"}},
		{"NoSpec", json, `{"apiVersion":"v3"}`, 400, "CCE.01400001", []string{"spec"}},
		{"NoLogin", json, `{"spec":{"nodes":[{"uid":"n1"}]}}`, 400, "CCE.01400001", []string{"spec.login"}},
		{"EmptyLogin", json, withLogin(`{}`), 400, "CCE.01400001", []string{"one of"}},
		{"TwoLogins", json, withLogin(`{"sshKey":"k","userPassword":{"password":"` + hashedPassword + `"}}`), 400, "CCE.01400001", []string{"only one"}},
		{"NoPassword", json, withLogin(`{"userPassword":{"username":"root"}}`), 400, "CCE.01400001", []string{"password is required"}},
		{"PlaintextPassword", json, password("hunter2!"), 400, "CCE.01400001", []string{"not base64"}},
		{"Base64Plaintext", json, password(b64("hunter2!")), 400, "CCE.01400001", []string{"SHA-512 crypt"}},
		{"MD5Crypt", json, password(b64("$1$salt$" + strings.Repeat("a", 22))), 400, "CCE.01400001", []string{"SHA-512 crypt"}},
		{"SaltTooLong", json, password(b64("$6$" + strings.Repeat("s", 17) + "$" + strings.Repeat("a", 86))), 400, "CCE.01400001", nil},
		{"HashTooShort", json, password(b64("$6$salt$" + strings.Repeat("a", 85))), 400, "CCE.01400001", nil},
		{"TooFewRounds", json, password(b64("$6$rounds=999$salt$" + strings.Repeat("a", 86))), 400, "CCE.01400001", []string{"rounds"}},
		{"ZeroNodes", json, `{"spec":{"login":{"sshKey":"k"},"nodes":[]}}`, 400, "CCE.01400001", []string{"not 0"}},
		{"NoNodes", json, `{"spec":{"login":{"sshKey":"k"}}}`, 400, "CCE.01400001", []string{"not 0"}},
		{"201Nodes", json, `{"spec":{"login":{"sshKey":"k"},"nodes":[` + nodes(201) + `]}}`, 400, "CCE.01400001", []string{"not 201"}},
		{"EmptyUID", json, `{"spec":{"login":{"sshKey":"k"},"nodes":[{"uid":"n1"},{"uid":""}]}}`, 400, "CCE.01400001", []string{"nodes[1]"}},
		{"DuplicateUID", json, removalBody("n1", "n2", "n1"), 400, "CCE.01400001", []string{"n1", "twice"}},
		{"MissingNodeNamesUID", json, removalBody("n1", "ghost-7"), 404, "CCE.01404001", []string{"ghost-7"}},
		{"UnknownCluster", json, `{"spec":{"login":{"sshKey":"k"},"nodes":[{"uid":"n1"}]}}`, 404, "CCE.01404001", []string{"other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := removePath(cluster)
			if tt.name == "UnknownCluster" {
				path = removePath("other")
			}
			r := send(t, srv, http.MethodPut, path, tt.contentType, tt.body)
			expectAnswer(t, r, tt.status, tt.code, tt.wants...)
		})
	}
	if n := len(srv.Removals()); n != 0 {
		t.Errorf("%d removals accepted, want none", n)
	}
}

func TestRemoveNodesAccepts(t *testing.T) {
	srv := newServer(t, ccetest.Options{JobDuration: 0})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct{ name, contentType, body string }{
		{"SSHKeyWithoutAPIVersionAndKind", "application/json", `{"spec":{"login":{"sshKey":"k"},"nodes":[{"uid":"a1"}]}}`},
		{"CharsetUTF8", "application/json; charset=UTF-8", `{"spec":{"login":{"sshKey":"k"},"nodes":[{"uid":"a2"}]}}`},
		{"Password", "application/json", `{"spec":{"login":{"userPassword":{"password":"` + hashedPassword + `"}},"nodes":[{"uid":"a3"}]}}`},
		{"PasswordWithRounds", "application/json", `{"spec":{"login":{"userPassword":{"username":"root","password":"` +
			b64("$6$rounds=5000$saltsalt$"+strings.Repeat("z", 86)) + `"}},"nodes":[{"uid":"a4"}]}}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.AddNodes(project, cluster, fmt.Sprintf("a%d", i+1))
			r := send(t, srv, http.MethodPut, removePath(cluster), tt.contentType, tt.body)
			if r.status != 200 || !strings.Contains(r.body, `"jobID":"`) {
				t.Fatalf("answer %d %s", r.status, r.body)
			}
			if strings.Contains(r.body, "password") || !strings.Contains(r.body, `"userPassword":{`) {
				t.Errorf("the answer does not mask the password as CCE does: %s", r.body)
			}
		})
	}
}

func TestRemoveNodesNodeState(t *testing.T) {
	srv := newServer(t, ccetest.Options{JobDuration: 1 << 40})
	srv.AddNodes(project, cluster, "n1", "n2", "n3")
	c := newClient(t, srv, 0)
	ctx := t.Context()

	t.Run("NonRemovablePhaseNamesUIDAndPhase", func(t *testing.T) {
		srv.SetNodePhase(project, cluster, "n2", cce.NodeInstalling)
		_, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1", "n2"})
		e := asError(t, err)
		if e.StatusCode != 400 || e.Code != "CCE.01400001" || !strings.Contains(e.Message, "n2") ||
			!strings.Contains(e.Message, "Installing") {
			t.Errorf("err = %v", e)
		}
		srv.SetNodePhase(project, cluster, "n2", cce.NodeAbnormal)
	})
	var jobID string
	t.Run("AbnormalAndActiveAreRemovable", func(t *testing.T) {
		var err error
		if jobID, err = c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1", "n2"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ClusterLocked", func(t *testing.T) {
		_, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n3"})
		e := asError(t, err)
		if e.StatusCode != 429 || e.Code != "CCE.01429002" || !strings.Contains(e.Message, jobID) || e.RetryAfter != 0 {
			t.Errorf("err = %+v, want 429 CCE.01429002 naming job %s without Retry-After", e, jobID)
		}
		if !cce.IsClusterBusy(err) || cce.Classify(err) != cce.ClassThrottled || cce.MaybeApplied(err) {
			t.Errorf("IsClusterBusy %v, Classify %v, MaybeApplied %v", cce.IsClusterBusy(err), cce.Classify(err), cce.MaybeApplied(err))
		}
	})
	t.Run("OtherClusterIsFree", func(t *testing.T) {
		srv.AddNodes(project, "clus-2", "m1")
		if _, err := c.RemoveNodes(ctx, project, "clus-2", sshLogin, []string{"m1"}); err != nil {
			t.Error(err)
		}
	})
	t.Run("ShowJobOfAnotherProject", func(t *testing.T) {
		_, err := c.ShowJob(ctx, "proj-other", jobID)
		if e := asError(t, err); e.StatusCode != 404 || e.Code != "CCE.01404001" || !cce.IsNotFound(err) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRoutes(t *testing.T) {
	srv := newServer(t, ccetest.Options{AutoNodes: true})
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"UnknownPath", "GET", "/api/v3/projects/p/clusters", 404, "APIG.0101"},
		{"NotAPI", "GET", "/healthz", 404, "APIG.0101"},
		{"EmptySegment", "GET", "/api/v3/projects//jobs/j", 404, "APIG.0101"},
		{"GetOnRemove", "GET", removePath(cluster), 405, "APIG.0101"},
		{"PutOnNode", "PUT", "/api/v3/projects/p/clusters/c/nodes/n", 405, "APIG.0101"},
		{"PostOnJob", "POST", "/api/v3/projects/p/jobs/j", 405, "APIG.0101"},
		{"UnknownJob", "GET", "/api/v3/projects/p/jobs/j", 404, "CCE.01404001"},
		{"AutoNode", "GET", "/api/v3/projects/p/clusters/c/nodes/any-node-1", 200, ""},
		{"AutoNodeMalformedUID", "GET", "/api/v3/projects/p/clusters/c/nodes/%20bad", 404, "CCE.01404001"},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, srv, tt.method, tt.path, "application/json", "")
			expectAnswer(t, r, tt.status, tt.code)
			if id := r.header.Get("X-Request-Id"); ids[id] {
				t.Errorf("X-Request-Id %s repeated", id)
			} else {
				ids[id] = true
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	if got := srv.Calls(ccetest.OpAny); got != len(tests) {
		t.Errorf("Calls(OpAny) = %d, want %d", got, len(tests))
	}
}

func TestAutoNodesDoNotComeBack(t *testing.T) {
	srv := newServer(t, ccetest.Options{AutoNodes: true})
	c := newClient(t, srv, 0)
	ctx := t.Context()
	node, err := c.ShowNode(ctx, "any-project", "any-cluster", "fresh-node")
	if err != nil || node.Status.Phase != cce.NodeActive || node.Metadata.UID != "fresh-node" {
		t.Fatalf("ShowNode = %+v, %v", node, err)
	}
	if _, err := c.RemoveNodes(ctx, "any-project", "any-cluster", sshLogin, []string{"fresh-node", "other-node"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShowNode(ctx, "any-project", "any-cluster", "fresh-node"); !cce.IsNotFound(err) {
		t.Errorf("a removed node came back: %v", err)
	}
}
