package controller_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/controller"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/worker"
)

const (
	project = "0123456789abcdef0123456789abcdef"
	token   = "controller-test-token"
)

// env is one private Redis, the fake CCE over HTTP, a worker with
// KUBE_ACCESS=dir (cluster admin) on the shared control plane, and what a
// controller needs: its own kubeconfig, for a user bound to exactly the
// ClusterRole of deployments/kubernetes/controller.yaml.
type env struct {
	t       *testing.T
	cp      *kubetest.ControlPlane
	kc      kubernetes.Interface // admin: the test's own hands
	fake    *ccetest.Server
	api     *cce.Client
	enq     *enqueuer.Client
	cluster string
	ctlDir  string
	logs    *testkit.SyncBuffer
}

var nodeIPs atomic.Int32

func newEnv(t *testing.T, jobDuration time.Duration) *env {
	t.Helper()
	cp := kubetest.Shared(t)
	e := &env{t: t, cp: cp, kc: cp.Client(t), cluster: kubetest.Name(t, "c"), logs: &testkit.SyncBuffer{}}
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	e.fake = ccetest.NewServer(ccetest.Options{JobDuration: jobDuration, Token: token})
	t.Cleanup(e.fake.Close)
	var err error
	e.api, err = cce.New(cce.Config{Endpoint: e.fake.URL, Auth: cce.TokenAuth{Token: token}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// A spare CCE node, so the cluster is never emptied by a test.
	e.fake.AddNodes(project, e.cluster, "ffffffff-0000-4000-8000-000000000000")

	workerDir := e.kubeconfigDir("worker-"+e.cluster, []string{"system:masters"})
	e.ctlDir = e.kubeconfigDir(e.bindControllerRole(), nil)
	access, err := kube.New(kube.Options{Mode: kube.ModeDir, Dir: workerDir})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(e.logs).With().Timestamp().Logger()
	e.enq = enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessDir, Enabled: true}})
	t.Cleanup(func() { _ = e.enq.Close() })
	w := worker.New(rdb, e.api, worker.Config{
		Concurrency:     8,
		RetryBackoffMin: 100 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond,
		PollIntervalMin: 200 * time.Millisecond, PollIntervalMax: 500 * time.Millisecond,
		PollFirstDelay: 200 * time.Millisecond, PollTimeout: time.Minute,
		CCETimeout: 2 * time.Second, ShutdownTimeout: 5 * time.Second,
		BatchWindow:   2 * time.Second,
		DrainInterval: 200 * time.Millisecond, DrainIntervalMax: 500 * time.Millisecond,
		Kube: access, Logger: log.With().Str("process", "worker").Logger(),
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
	return e
}

// kubeconfigDir writes a KUBECONFIG_DIR holding the cluster's kubeconfig
// for user.
func (e *env) kubeconfigDir(user string, groups []string) string {
	e.t.Helper()
	cfg, err := e.cp.Kubeconfig(user, groups, time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	dir := e.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, e.cluster), cfg, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// bindControllerRole creates the manifests' ClusterRole (under a name of
// the test's own) bound to a user of its own, and returns the user.
func (e *env) bindControllerRole() string {
	e.t.Helper()
	raw, err := os.ReadFile("../deployments/kubernetes/controller/controller.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			e.t.Fatal(err)
		}
		if r.Kind == "ClusterRole" {
			role = &r
		}
	}
	if role == nil {
		e.t.Fatal("controller.yaml has no ClusterRole")
	}
	name := kubetest.Name(e.t, "ctl")
	role.ObjectMeta = metav1.ObjectMeta{Name: name}
	ctx := e.t.Context()
	if _, err := e.kc.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}}
	if _, err := e.kc.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.kc.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.kc.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// node registers a kwok Node and the CCE node uid of it (found by its IP).
func (e *env) node(uid string, annotations map[string]string) *corev1.Node {
	e.t.Helper()
	n := nodeIPs.Add(1)
	name, ip := kubetest.Name(e.t, "n"), fmt.Sprintf("10.160.%d.%d", n/250, 1+n%250)
	e.cp.AddNode(e.t, name, ip, nil)
	e.fake.AddNodes(project, e.cluster, uid)
	e.fake.SetNodeAddress(project, e.cluster, uid, "cce-name-"+name, ip) // found by IP, not name
	if len(annotations) > 0 {
		e.annotate(name, annotations)
	}
	return e.get(name)
}

// annotate sets annotations; "" removes one.
func (e *env) annotate(name string, set map[string]string) {
	e.t.Helper()
	var parts []string
	for k, v := range set {
		if v == "" {
			parts = append(parts, fmt.Sprintf("%q:null", k))
		} else {
			parts = append(parts, fmt.Sprintf("%q:%q", k, v))
		}
	}
	patch := `{"metadata":{"annotations":{` + strings.Join(parts, ",") + `}}}`
	if _, err := e.kc.CoreV1().Nodes().Patch(e.t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(name string) *corev1.Node {
	e.t.Helper()
	n, err := e.kc.CoreV1().Nodes().Get(e.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// waitState waits until the Node's state annotation is state and returns
// the Node.
func (e *env) waitState(name, state string) *corev1.Node {
	e.t.Helper()
	var n *corev1.Node
	testkit.WaitFor(e.t, 60*time.Second, "node "+name+" state "+state, func() bool {
		got, err := e.kc.CoreV1().Nodes().Get(e.t.Context(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err != nil {
			return false
		}
		n = got
		return got.Annotations[controller.AnnState] == state
	})
	return n
}

// events lists the reasons of the Events on Node name.
func (e *env) events(name string) []string {
	e.t.Helper()
	evs, err := e.kc.CoreV1().Events(metav1.NamespaceDefault).List(e.t.Context(),
		metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs.Items {
		out = append(out, ev.Reason)
	}
	return out
}

// running is a controller started by start.
type running struct {
	c    *controller.Controller
	stop func()
}

// start runs a controller of the cluster until stop or the test's end,
// with its own Kubernetes access (the ClusterRole's user).
func (e *env) start(name string) *running {
	e.t.Helper()
	access, err := kube.New(kube.Options{Mode: kube.ModeDir, Dir: e.ctlDir})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := controller.New(access, e.api, e.enq, controller.Config{
		Clusters: []controller.Cluster{{ProjectID: project, ClusterID: e.cluster}},
		SSHKey:   "fleet-keypair",
		Resync:   time.Minute,
		Logger:   zerolog.New(e.logs).With().Str("process", name).Logger(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("controller %s: %v", name, err)
			}
		})
	}
	e.t.Cleanup(stop)
	return &running{c: c, stop: stop}
}
