package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/controller"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// TestControllerBadConfig: what the controller cannot work with stops it
// at once, exit 2, naming the variable.
func TestControllerBadConfig(t *testing.T) {
	base := map[string]string{"CCE_AUTH_TOKEN": "t", "CCE_ENDPOINT": "http://127.0.0.1:1", "KUBE_ACCESS": "cce"}
	for name, c := range map[string]struct{ set, want string }{
		"NoClusters": {"", "WATCH_CLUSTERS"},
		"BadCluster": {"WATCH_CLUSTERS=c1", "WATCH_CLUSTERS"},
		"NoKube":     {"WATCH_CLUSTERS=p/c,KUBE_ACCESS=none", "KUBE_ACCESS"},
		"Twice":      {"WATCH_CLUSTERS=p/c,p/c", "twice"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			if c.set != "" {
				k, v, _ := strings.Cut(c.set, "=")
				env[k] = v
				if v2, ok := strings.CutPrefix(v, "p/c,KUBE_ACCESS="); ok {
					env[k], env["KUBE_ACCESS"] = "p/c", v2
				}
			}
			r := runMain(t, env, "", "controller")
			if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%+v, want exit %d naming %s", r, exitUsage, c.want)
			}
		})
	}
}

// TestControllerCommand: the binary's wiring, in process: WATCH_CLUSTERS
// through KUBE_ACCESS=dir and the fake CCE; an annotated Node becomes a
// request whose id and state are written onto it (no worker runs, so it
// stays queued).
func TestControllerCommand(t *testing.T) {
	cp := kubetest.Shared(t)
	kc := cp.Client(t)
	env, _ := redisEnv(t)
	fake := ccetest.NewServer(ccetest.Options{Token: "ctl-cmd-token"})
	t.Cleanup(fake.Close)
	cluster := kubetest.Name(t, "c")
	dir := t.TempDir()
	cfg, err := cp.Kubeconfig("ctl-cmd", []string{"system:masters"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cluster), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	const project = "0123456789abcdef0123456789abcdef"
	name := kubetest.Name(t, "n")
	n := cp.AddNode(t, name, "10.170.0.1", nil)
	fake.AddNodes(project, cluster, uid(7), uid(8))
	fake.SetNodeAddress(project, cluster, uid(7), name, "10.170.0.1")
	addr := freeAddr(t)
	for k, v := range map[string]string{"CCE_ENDPOINT": fake.URL, "CCE_AUTH_TOKEN": "ctl-cmd-token", "KUBE_ACCESS": "dir",
		"KUBECONFIG_DIR": dir, "WATCH_CLUSTERS": project + "/" + cluster, "WATCH_SSH_KEY": "fleet-key", "HTTP_ADDR": addr} {
		env[k] = v
	}
	stop := runServer(t, env, "controller", "--http-addr", addr)
	defer stop()
	if _, err := kc.CoreV1().Nodes().Patch(t.Context(), name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"noderemover.io/remove":"true"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	want := controller.RequestID(cluster, string(n.UID), "1")
	testkit.WaitFor(t, 30*time.Second, "the request written onto the Node", func() bool {
		got, err := kc.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && got.Annotations[controller.AnnRequestID] == want && got.Annotations[controller.AnnState] == "queued"
	})
	r := runMain(t, env, "", "status", want)
	if r.code != 0 || !strings.Contains(r.stdout, uid(7)) {
		t.Errorf("status: %+v", r)
	}
}
