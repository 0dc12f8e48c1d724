package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// The drain end to end, with the binary as processes: the fake CCE's
// clustercert hands out kubeconfigs for the shared control plane and its
// ShowNode names the kwok Nodes registered there, so the workers walk the
// production path (KUBE_ACCESS=cce).

const drainAPIToken = "drain-api-token-0123456789"

// drainFake is a fake CCE whose clusters' Kubernetes is the shared control
// plane. Each RemoveNodes call it receives is checked, before the fake
// answers it, against the Nodes watched: a watched node whose Kubernetes
// Node still has a Pod to drain (not a DaemonSet's) is noted in early.
type drainFake struct {
	*ccetest.Server
	cp *kubetest.ControlPlane
	kc kubernetes.Interface

	mu      sync.Mutex
	watched map[string]string // CCE node uid → Kubernetes Node name
	early   []string          // what RemoveNodes calls found still on a watched Node
}

func newDrainFake(tb testing.TB, opts ccetest.Options) *drainFake {
	tb.Helper()
	cp := kubetest.Shared(tb)
	d := &drainFake{cp: cp, kc: cp.Client(tb), watched: map[string]string{}}
	f := ccetest.New(opts)
	d.Server = &ccetest.Server{Fake: f, Server: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/nodes/operation/remove") {
			body, _ := io.ReadAll(r.Body)
			d.checkDrained(body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		f.ServeHTTP(w, r)
	}))}
	tb.Cleanup(d.Close)
	return d
}

// cluster makes the fake's cluster issue kubeconfigs for the control plane.
func (d *drainFake) cluster(clusterID string) {
	d.SetClusterCert(project, clusterID, d.cp.CCEKubeconfig)
}

var nodeIPs atomic.Int32

// node registers a kwok Node and names it as CCE's node uid of clusterID;
// a watched node must have no Pod left when a RemoveNodes call takes it.
func (d *drainFake) node(tb testing.TB, clusterID, uid string, watch bool) *corev1.Node {
	tb.Helper()
	n := nodeIPs.Add(1)
	name, ip := kubetest.Name(tb, "n"), fmt.Sprintf("10.150.%d.%d", n/250, 1+n%250)
	kn := d.cp.AddNode(tb, name, ip, nil)
	d.AddNodes(project, clusterID, uid)
	d.SetNodeAddress(project, clusterID, uid, name, ip)
	if watch {
		d.mu.Lock()
		d.watched[uid] = name
		d.mu.Unlock()
	}
	return kn
}

// checkDrained notes the watched nodes of a RemoveNodes body whose
// Kubernetes Node still holds a Pod that must go.
func (d *drainFake) checkDrained(body []byte) {
	var req struct {
		Spec struct {
			Nodes []struct {
				UID string `json:"uid"`
			} `json:"nodes"`
		} `json:"spec"`
	}
	if json.Unmarshal(body, &req) != nil {
		return // the fake answers 400
	}
	for _, n := range req.Spec.Nodes {
		d.mu.Lock()
		name, ok := d.watched[n.UID]
		d.mu.Unlock()
		if !ok {
			continue
		}
		left, err := podsToDrain(d.kc, name)
		d.mu.Lock()
		switch {
		case err != nil:
			d.early = append(d.early, fmt.Sprintf("node %s (%s): cannot list its Pods: %v", n.UID, name, err))
		case len(left) > 0:
			d.early = append(d.early, fmt.Sprintf("node %s (%s): RemoveNodes with Pods still on it: %v", n.UID, name, left))
		}
		d.mu.Unlock()
	}
}

// removedEarly returns what RemoveNodes calls found on watched Nodes.
func (d *drainFake) removedEarly() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.early...)
}

// removedUIDs counts, for each node uid, the accepted removals holding it.
func (d *drainFake) removedUIDs() map[string]int {
	out := map[string]int{}
	for _, r := range d.Removals() {
		for _, u := range r.Nodes {
			out[u]++
		}
	}
	return out
}

// podsToDrain lists "ns/name" of the Pods on Node name a drain must move
// (DaemonSet Pods stay).
func podsToDrain(kc kubernetes.Interface, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", name).String(),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		if c := metav1.GetControllerOf(&p); c != nil && c.Kind == "DaemonSet" {
			continue
		}
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out, nil
}

// movablePods gives each target Node one Pod of a Deployment of its own
// that may run on the target or on spare: spare is cordoned while they
// are placed, so each lands on its target, and uncordoned after. It
// returns the Pods, by target Node name.
func movablePods(tb testing.TB, cp *kubetest.ControlPlane, ns string, spare *corev1.Node, targets ...*corev1.Node) map[string]corev1.Pod {
	tb.Helper()
	kc := cp.Client(tb)
	setUnschedulable(tb, kc, spare.Name, true)
	out := map[string]corev1.Pod{}
	for i, target := range targets {
		w := kubetest.Workload{Name: fmt.Sprintf("app-%d", i), Placement: kubetest.Placement{Nodes: []string{target.Name, spare.Name}}}
		cp.Deployment(tb, ns, w)
		pods := cp.WaitPodsRunning(tb, ns, w.Selector(), 1)
		if pods[0].Spec.NodeName != target.Name {
			tb.Fatalf("pod %s on %q, want %s", pods[0].Name, pods[0].Spec.NodeName, target.Name)
		}
		out[target.Name] = pods[0]
	}
	setUnschedulable(tb, kc, spare.Name, false)
	return out
}

// podMoved waits until Pod p (of Deployment app-i) is gone and its
// replacement runs on Node on.
func podMoved(tb testing.TB, cp *kubetest.ControlPlane, p corev1.Pod, on string) {
	tb.Helper()
	cp.WaitPodGone(tb, p.Namespace, p.Name, p.UID)
	sel := "app=" + p.Labels["app"]
	if got := cp.WaitPodsRunning(tb, p.Namespace, sel, 1); got[0].Spec.NodeName != on {
		tb.Errorf("the replacement of %s/%s runs on %q, want %s", p.Namespace, p.Name, got[0].Spec.NodeName, on)
	}
}

func setUnschedulable(tb testing.TB, kc kubernetes.Interface, name string, v bool) {
	tb.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	if _, err := kc.CoreV1().Nodes().Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		tb.Fatal(err)
	}
}

func getNode(tb testing.TB, kc kubernetes.Interface, name string) *corev1.Node {
	tb.Helper()
	n, err := kc.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// drainWorkerEnv is the environment of worker processes that drain through
// the fake CCE's kubeconfigs.
func drainWorkerEnv(redisURL, cceURL string) []string {
	return []string{
		"REDIS_URL=" + redisURL, "CCE_ENDPOINT=" + cceURL, "CCE_AUTH_TOKEN=" + token,
		"KUBE_ACCESS=cce", "DRAIN_INTERVAL=200ms",
		"CCE_WRITE_RATE=50/s", "CCE_READ_RATE=50/s", "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=200ms",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "POLL_FIRST_DELAY=300ms",
		"RETRY_BACKOFF_MIN=100ms", "RETRY_BACKOFF_MAX=1s", "LOG_LEVEL=debug", "HTTP_ADDR=127.0.0.1:0",
	}
}

// waitRequestFinal waits until request id is final and returns its status.
func waitRequestFinal(tb testing.TB, enq *enqueuer.Client, id string, limit time.Duration) removal.Status {
	tb.Helper()
	var st removal.Status
	testkit.WaitFor(tb, limit, "request "+id+" final", func() bool {
		var err error
		st, err = enq.Status(context.Background(), id)
		return err == nil && st.State.Final()
	})
	return st
}

// post sends body to the API process's POST /v1/removals and returns the
// status and the answer.
func post(tb testing.TB, apiAddr, body string) (int, map[string]any) {
	tb.Helper()
	status, _, m := postRemoval(tb, "http://"+apiAddr, drainAPIToken, body)
	return status, m
}

// TestDrainFromCLIAPIAndGo: a removal with a drain asked for through each
// way in (the CLI, the API process, the Go package) is carried out by
// worker processes: each Pod moves off its Node to the spare before CCE
// removes the node, and `noderemover status` shows the drain. With no
// Kubernetes access (KUBE_ACCESS=none) the CLI and the API refuse a drain
// and enqueue nothing.
func TestDrainFromCLIAPIAndGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker, API and CLI processes against a control plane")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	srv := redistest.Start(t, redistest.Options{})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	d := newDrainFake(t, ccetest.Options{Token: token, JobDuration: 500 * time.Millisecond})
	cluster := kubetest.Name(t, "c")
	d.cluster(cluster)
	ns := d.cp.Namespace(t)

	ways := []string{"cli", "api", "go"}
	uids := map[string]string{}
	var targets []*corev1.Node
	for i, way := range ways {
		uids[way] = fmt.Sprintf("000000d0-0000-4000-8000-%012d", i)
		targets = append(targets, d.node(t, cluster, uids[way], true))
	}
	spare := d.cp.AddNode(t, kubetest.Name(t, "spare"), "10.150.255.1", nil)
	pods := movablePods(t, d.cp, ns, spare, targets...)

	bin := proctest.Binary(t, true)
	env := drainWorkerEnv(srv.URL, d.URL)
	for range 2 {
		proctest.Start(t, bin, env, "worker")
	}
	apiAddr, apiNoneAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	proctest.Start(t, bin, []string{"REDIS_URL=" + srv.URL, "API_ADDR=" + apiAddr, "API_TOKENS=" + drainAPIToken,
		"KUBE_ACCESS=cce", "LOG_LEVEL=warn"}, "api")
	proctest.Start(t, bin, []string{"REDIS_URL=" + srv.URL, "API_ADDR=" + apiNoneAddr, "API_TOKENS=" + drainAPIToken,
		"KUBE_ACCESS=none", "LOG_LEVEL=warn"}, "api")
	testkit.WaitFor(t, 30*time.Second, "the API processes listening", func() bool {
		return proctest.Listening(apiAddr) && proctest.Listening(apiNoneAddr)
	})

	// No Kubernetes access: refused, nothing enqueued.
	cliEnv := []string{"REDIS_URL=" + srv.URL}
	stdout, stderr, code := proctest.RunAll(t, bin, append(cliEnv, "KUBE_ACCESS=none"), "", "enqueue", "--request-id", "drain-none-cli",
		"--project-id", project, "--cluster-id", cluster, "--node", uids["cli"], "--ssh-key", "k", "--drain", "--drain-timeout", "1m")
	if code != 2 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "KUBE_ACCESS") {
		t.Errorf("enqueue --drain with KUBE_ACCESS=none: exit %d, stdout %q, stderr %q; want exit 2 and one line naming KUBE_ACCESS", code, stdout, stderr)
	}
	body := func(id, uid string) string {
		return mustJSON(map[string]any{"request_id": id, "project_id": project, "cluster_id": cluster, "nodes": []string{uid},
			"ssh_key": "k", "drain": map[string]any{"enabled": true, "timeout": "1m", "on_timeout": "fail"}})
	}
	if status, m := post(t, apiNoneAddr, body("drain-none-api", uids["api"])); status != http.StatusBadRequest || m["field"] != "drain.enabled" {
		t.Errorf("POST with a drain to an API with KUBE_ACCESS=none: %d %v; want 400 naming drain.enabled", status, m)
	}
	enq := enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessCCE, Enabled: true}})
	defer enq.Close()
	in := asynq.NewInspectorFromRedisClient(rdb)
	for _, id := range []string{"drain-none-cli", "drain-none-api"} {
		if _, err := enq.Status(t.Context(), id); !errors.Is(err, enqueuer.ErrNotFound) {
			t.Errorf("%s: status %v; want not found: nothing enqueued", id, err)
		}
		if _, err := in.GetTaskInfo(tasks.Queue, id); !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Errorf("%s: a task: %v", id, err)
		}
	}

	// One removal through each way in.
	_, stderr, code = proctest.RunAll(t, bin, append(cliEnv, "KUBE_ACCESS=cce"), "", "enqueue", "--request-id", "drain-cli",
		"--project-id", project, "--cluster-id", cluster, "--node", uids["cli"], "--ssh-key", "k", "--drain", "--drain-timeout", "1m")
	if code != 0 {
		t.Fatalf("enqueue --drain: exit %d: %s", code, stderr)
	}
	if status, m := post(t, apiAddr, body("drain-api", uids["api"])); status != http.StatusAccepted {
		t.Fatalf("POST with a drain: %d %v", status, m)
	}
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "drain-go", ProjectID: project, ClusterID: cluster,
		Nodes: []string{uids["go"]}, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}

	for i, way := range ways {
		id := "drain-" + way
		st := waitRequestFinal(t, enq, id, 2*time.Minute)
		if st.State != removal.StateSucceeded || len(st.Nodes) != 1 || st.Nodes[0].State != removal.NodeRemoved || st.Drain == nil {
			t.Errorf("%s: %+v; want succeeded, its node removed, with a drain", id, st)
		}
		if removed := d.removedUIDs(); removed[uids[way]] != 1 {
			t.Errorf("%s: node %s in %d accepted removals, want 1", id, uids[way], removed[uids[way]])
		}
		podMoved(t, d.cp, pods[targets[i].Name], spare.Name)
		out, errOut, code := proctest.RunAll(t, bin, cliEnv, "", "status", id)
		if code != 0 || !strings.Contains(out, `"drain"`) {
			t.Errorf("status %s: exit %d, %q %q; want the status with its \"drain\"", id, code, out, errOut)
		}
	}
	if early := d.removedEarly(); len(early) > 0 {
		t.Errorf("CCE was asked to remove nodes before their drain ended: %v", early)
	}
	if dd := d.DoubleRemovals(); len(dd) > 0 {
		t.Errorf("nodes in two accepted removals: %v", dd)
	}
}

// watchCordons records, from now until the test ends, each time Node name
// goes from schedulable to cordoned, with the cordoned-by annotation it
// had then.
func watchCordons(tb testing.TB, kc kubernetes.Interface, name string) func() []string {
	tb.Helper()
	n := getNode(tb, kc, name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var cordons []string
	rv, was := n.ResourceVersion, n.Spec.Unschedulable
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := kc.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
			if err != nil {
				select { // the apiserver is busy: watch again shortly, from where this one would have started
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			for ev := range w.ResultChan() {
				n, ok := ev.Object.(*corev1.Node)
				if !ok { // an error event (say, 410 Gone): the watch ends; start again from the Node as it is
					if cur, err := kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
						rv = cur.ResourceVersion
					}
					continue
				}
				rv = n.ResourceVersion
				if n.Spec.Unschedulable && !was {
					mu.Lock()
					cordons = append(cordons, n.Annotations[drain.CordonedBy])
					mu.Unlock()
				}
				was = n.Spec.Unschedulable
			}
			w.Stop()
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cordons...)
	}
}

// TestDrainSurvivesAWorkerKill: a drain held by a PodDisruptionBudget is
// carried on by another worker process after the one draining is
// SIGKILLed: the Node is cordoned once, by the request, and CCE is asked
// once to remove it.
func TestDrainSurvivesAWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes against a control plane")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	srv := redistest.Start(t, redistest.Options{})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	d := newDrainFake(t, ccetest.Options{Token: token, JobDuration: 500 * time.Millisecond})
	cluster := kubetest.Name(t, "c")
	d.cluster(cluster)
	ns := d.cp.Namespace(t)
	uid := "000000d1-0000-4000-8000-000000000001"
	target := d.node(t, cluster, uid, true)
	other := d.cp.AddNode(t, kubetest.Name(t, "other"), "10.150.255.2", nil)

	// Both Pods on the target: the other Node is cordoned while they are placed.
	setUnschedulable(t, d.kc, other.Name, true)
	w := kubetest.Workload{Name: "web", Replicas: 2, Placement: kubetest.Placement{Nodes: []string{target.Name, other.Name}}}
	d.cp.Deployment(t, ns, w)
	for _, p := range d.cp.WaitPodsRunning(t, ns, w.Selector(), 2) {
		if p.Spec.NodeName != target.Name {
			t.Fatalf("pod %s on %q, want %s", p.Name, p.Spec.NodeName, target.Name)
		}
	}
	two := intstr.FromInt32(2)
	d.cp.PDB(t, ns, kubetest.PDB{Name: "web", Selector: map[string]string{"app": "web"}, MinAvailable: &two})
	setUnschedulable(t, d.kc, other.Name, false)
	cordons := watchCordons(t, d.kc, target.Name)

	bin := proctest.Binary(t, true)
	env := drainWorkerEnv(srv.URL, d.URL)
	first := proctest.Start(t, bin, env, "worker")
	enq := enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessCCE}})
	defer enq.Close()
	on, timeout := true, enqueuer.Duration(3*time.Minute)
	const id = "drain-kill"
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: id, ProjectID: project, ClusterID: cluster,
		Nodes: []string{uid}, SSHKey: "k", Drain: &enqueuer.DrainOptions{Enabled: &on, Timeout: &timeout}}); err != nil {
		t.Fatal(err)
	}
	pdb := "PodDisruptionBudget " + ns + "/web"
	var st removal.Status
	testkit.WaitFor(t, time.Minute, "draining, blocked by "+pdb, func() bool {
		var err error
		st, err = enq.Status(t.Context(), id)
		return err == nil && st.State == removal.StateDraining && st.Nodes[0].Drain != nil &&
			strings.Contains(strings.Join(st.Nodes[0].Drain.BlockedBy, "\n"), pdb)
	})
	if by := getNode(t, d.kc, target.Name).Annotations[drain.CordonedBy]; by != id {
		t.Errorf("while it drains, the Node's %s is %q, want %q", drain.CordonedBy, by, id)
	}

	t.Logf("draining: %+v; killing the worker", *st.Nodes[0].Drain)
	first.Kill()
	scale(t, d.kc, ns, "web", 4)
	second := proctest.Start(t, bin, env, "worker")
	st = waitRequestFinal(t, enq, id, 3*time.Minute)
	if st.State != removal.StateSucceeded || st.Nodes[0].State != removal.NodeRemoved {
		t.Fatalf("status %+v; want succeeded, the node removed", st)
	}
	t.Logf("after the second worker: %s, node %s %q, drain %+v", st.State, st.Nodes[0].State, st.Nodes[0].Reason, st.Nodes[0].Drain)
	if got := cordons(); len(got) != 1 || got[0] != id {
		t.Errorf("the Node was cordoned %d times, by %q; want once, by %s", len(got), got, id)
	}
	if by := getNode(t, d.kc, target.Name).Annotations[drain.CordonedBy]; by != id {
		t.Errorf("the removed Node's %s is %q, want %q", drain.CordonedBy, by, id)
	}
	if left, err := podsToDrain(d.kc, target.Name); err != nil || len(left) > 0 {
		t.Errorf("Pods left on the removed Node: %v %v", left, err)
	}
	if calls, rm := d.Calls(ccetest.OpRemoveNodes), d.Removals(); calls != 1 || len(rm) != 1 || len(rm[0].Nodes) != 1 || rm[0].Nodes[0] != uid {
		t.Errorf("%d RemoveNodes calls, accepted %+v; want one, for %s", calls, rm, uid)
	}
	if early := d.removedEarly(); len(early) > 0 {
		t.Errorf("CCE was asked to remove the node before its drain ended: %v", early)
	}
	if dd := d.DoubleRemovals(); len(dd) > 0 {
		t.Errorf("nodes in two accepted removals: %v", dd)
	}
	if out := first.Stderr() + second.Stderr(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic") {
		t.Errorf("a worker raced or panicked:\n%s", out)
	}
}

func scale(tb testing.TB, kc kubernetes.Interface, ns, name string, n int32) {
	tb.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := kc.AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		tb.Fatal(err)
	}
}
