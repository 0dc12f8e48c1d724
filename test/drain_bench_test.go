package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

// The drain at scale, on the real control plane (kwok plays the kubelets):
// 50 Nodes of one cluster, 10 Pods on each, every node's Pods one
// Deployment under a PodDisruptionBudget of maxUnavailable 1, so a node
// gives up one Pod at a time and its drain waits, each time, for the
// replacement to be scheduled on a spare Node and counted healthy. Three
// worker processes (KUBE_ACCESS=cce against the fake CCE, whose
// clustercert hands out a kubeconfig for the control plane) carry the
// drains and the RemoveNode calls.
const (
	drainNodes     = 50
	drainSpares    = 10
	podsPerNode    = 10
	drainWorkers   = 3
	drainRequests  = 10 // of drainNodes/drainRequests nodes each
	drainGraceSecs = 30 // terminationGracePeriodSeconds; kwok deletes at once
)

// drainRun is what one run of BenchmarkDrain measured.
type drainRun struct {
	elapsed     time.Duration // first enqueue to every request succeeded
	calls       float64       // noderemover_kube_requests_total (every code), all workers
	evicted     float64       // evictions accepted, all workers
	refused     float64       // evictions refused, all workers
	removeCalls int           // RemoveNode calls CCE received
	wire        float64       // Kubernetes requests the workers sent, counted by the proxies
	peakQPS     float64       // the most requests one worker sent in any one second
	meanQPS     float64       // the highest per-worker mean (metric) over the run
	overLimit   int           // requests sent past client-go's token bucket, all workers
	apiserver   float64       // pod and volumeattachment LISTs, evictions, node PATCHes at kube-apiserver
}

// BenchmarkDrain measures 50 nodes × 10 Pods drained through PDBs and
// removed: wall time against the Pods' grace period, Kubernetes calls and
// refused evictions per Pod, RemoveNode calls, and each worker's
// Kubernetes request rate against KUBE_QPS (checked at the apiserver too).
// The setup (Nodes, Deployments, PDBs) is not timed: ns/op is the drain.
func BenchmarkDrain(b *testing.B) {
	if !redistest.HaveServer() {
		b.Skip("needs redis-server")
	}
	cp := kubetest.Shared(b)
	var r drainRun
	for b.Loop() {
		b.StopTimer()
		r = runDrain(b, cp)
	}
	pods := float64(drainNodes * podsPerNode)
	b.ReportMetric(r.elapsed.Seconds(), "s/drain")
	b.ReportMetric(r.elapsed.Seconds()/drainGraceSecs, "drain/grace")
	b.ReportMetric(drainGraceSecs, "grace-s")
	b.ReportMetric(r.calls/pods, "kube-calls/pod")
	b.ReportMetric(r.wire/pods, "wire-calls/pod")
	b.ReportMetric(r.evicted/pods, "evictions/pod")
	b.ReportMetric(r.refused/pods, "refused/pod")
	b.ReportMetric(float64(r.removeCalls), "removenode-calls")
	b.ReportMetric(r.peakQPS, "peak-qps/worker")
	b.ReportMetric(r.meanQPS, "mean-qps/worker")
	b.ReportMetric(float64(r.overLimit), "over-limit-reqs")
}

// runDrain sets up the cluster and the workers, times the drain (the
// benchmark's timer runs for it alone) and gathers the figures.
func runDrain(b *testing.B, cp *kubetest.ControlPlane) drainRun {
	b.Helper()
	kc := cp.Client(b)
	ns := cp.Namespace(b)
	cluster := kubetest.Name(b, "c")
	fake := ccetest.NewServer(ccetest.Options{Token: token})
	b.Cleanup(fake.Close)
	fake.SetClusterCert(project, cluster, cp.CCEKubeconfig)

	// Spare Nodes first, cordoned while the Pods are placed so that every
	// Deployment's 10 land on its own Node; then they take the replacements.
	setupStart := time.Now()
	ipBase := time.Now().Nanosecond() % 200
	var spares, targets []string
	addNode := func(i int) string {
		name := kubetest.Name(b, fmt.Sprintf("n%02d", i))
		ip := fmt.Sprintf("10.%d.%d.%d", 20+ipBase%30, ipBase, 1+i)
		cp.AddNode(b, name, ip, nil)
		if i < drainNodes {
			uid := fmt.Sprintf("dddddddd-0000-4000-8000-%012d", i)
			fake.AddNodes(project, cluster, uid)
			fake.SetNodeAddress(project, cluster, uid, name, ip)
		}
		return name
	}
	for i := range drainSpares {
		spares = append(spares, addNode(drainNodes+i))
		setSchedulable(b, kc, spares[i], false)
	}
	for i := range drainNodes {
		targets = append(targets, addNode(i))
	}
	for i, node := range targets {
		createPinned(b, kc, ns, fmt.Sprintf("app-%02d", i), append([]string{node}, spares...))
	}
	waitPlaced(b, kc, ns, targets)
	for i := range targets {
		createPDB(b, kc, ns, fmt.Sprintf("app-%02d", i))
	}
	waitPDBsReady(b, kc, ns)
	for _, s := range spares {
		setSchedulable(b, kc, s, true)
	}
	b.Logf("setup: %d Nodes, %d Pods, %d PDBs in %v", len(targets)+len(spares), drainNodes*podsPerNode, drainNodes,
		time.Since(setupStart).Round(time.Second))

	srv := redistest.Start(b, redistest.Options{})
	rdb := srv.Client(b)
	env := []string{
		"REDIS_URL=" + srv.URL, "CCE_AUTH_TOKEN=" + token,
		"CCE_WRITE_RATE=off", "CCE_READ_RATE=off", "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=2s", "WORKER_CONCURRENCY=10",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "POLL_FIRST_DELAY=10ms",
		"RETRY_BACKOFF_MIN=200ms", "RETRY_BACKOFF_MAX=2s", "LOG_LEVEL=warn",
		// external: the cluster entry that skips TLS verification, so the
		// counting proxy can stand in for the apiserver.
		"KUBE_ACCESS=cce", "KUBE_ENDPOINT=external", "DRAIN_INTERVAL=500ms",
	}
	bin := proctest.Binary(b, false)
	var addrs []string
	var wires []*wireLog
	for range drainWorkers {
		addr, wire := proctest.FreeAddr(b), newWireLog(b, cp)
		front := cceFront(b, fake, cp.Host(), wire.URL)
		proctest.Start(b, bin, append(env, "HTTP_ADDR="+addr, "CCE_ENDPOINT="+front), "worker")
		addrs, wires = append(addrs, addr), append(wires, wire)
	}
	for _, a := range addrs {
		testkit.WaitFor(b, 30*time.Second, "worker listening on "+a, func() bool { return proctest.Listening(a) })
	}

	enq := enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: removal.KubeAccessCCE, Enabled: true}})
	defer enq.Close()
	var reqs []enqueuer.Request
	per := drainNodes / drainRequests
	for i := range drainRequests {
		var nodes []string
		for j := range per {
			nodes = append(nodes, fmt.Sprintf("dddddddd-0000-4000-8000-%012d", i*per+j))
		}
		reqs = append(reqs, enqueuer.Request{ID: fmt.Sprintf("%s-%d", cluster, i), ProjectID: project, ClusterID: cluster,
			Nodes: nodes, SSHKey: "bench-key", Drain: &enqueuer.DrainOptions{}})
	}

	apiBefore := apiserverCounts(b, kc)
	b.StartTimer()
	start := time.Now()
	for _, r := range reqs {
		if _, err := enq.Enqueue(b.Context(), r); err != nil {
			b.Fatalf("enqueue %s: %v", r.ID, err)
		}
	}
	lastLog := time.Now()
	testkit.WaitFor(b, 10*time.Minute, "every request succeeded", func() bool {
		done := 0
		for _, r := range reqs {
			st, err := enq.Status(b.Context(), r.ID)
			if err == nil && st.State == removal.StateSucceeded {
				done++
			} else if err == nil && st.State.Final() {
				b.Fatalf("request %s ended %s: %+v", r.ID, st.State, st)
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			b.Logf("%v: %d of %d requests succeeded", time.Since(start).Round(time.Second), done, len(reqs))
		}
		return done == len(reqs)
	})
	res := drainRun{elapsed: time.Since(start)}
	b.StopTimer()
	defer b.StartTimer() // b.Loop wants it running
	apiAfter := apiserverCounts(b, kc)

	for _, a := range addrs {
		m := scrapeMetrics(b.Context(), "http://"+a+"/metrics")
		if m == nil {
			b.Fatalf("no metrics from worker %s", a)
		}
		calls := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, `noderemover_kube_requests_total{`) {
				calls += v
			}
		}
		res.calls += calls
		res.evicted += m[`noderemover_drain_evictions_total{result="evicted"}`]
		res.refused += m[`noderemover_drain_evictions_total{result="refused"}`]
		res.meanQPS = max(res.meanQPS, calls/res.elapsed.Seconds())
		b.Logf("worker %s: %.0f Kubernetes calls, %.0f evicted, %.0f refused", a, calls,
			m[`noderemover_drain_evictions_total{result="evicted"}`], m[`noderemover_drain_evictions_total{result="refused"}`])
	}
	for i, w := range wires {
		at := w.times()
		res.wire += float64(len(at))
		res.peakQPS = max(res.peakQPS, float64(peakRate(at)))
		over := overBucket(at, kube.DefaultQPS, kube.DefaultBurst)
		res.overLimit += over
		w.mu.Lock()
		b.Logf("worker %d on the wire: %d requests, peak %d in one second, %d past the token bucket; %v",
			i, len(at), peakRate(at), over, w.kinds)
		w.mu.Unlock()
	}
	for k, v := range apiAfter {
		d := v - apiBefore[k]
		switch k {
		// kube-apiserver's own loopback client lists the PDBs for each
		// eviction, so LIST poddisruptionbudgets is left out.
		case "LIST pods", "LIST volumeattachments", "POST pods/eviction", "PATCH nodes":
			res.apiserver += d
		}
		if d > 0 {
			b.Logf("kube-apiserver: %s %.0f", k, d)
		}
	}
	b.Logf("Kubernetes calls: %.0f counted by the workers' metric, %.0f on the wire; pod and volumeattachment LISTs, evictions and node PATCHes: %.0f by kube-apiserver, %.0f on the wire",
		res.calls, res.wire, res.apiserver, wireSum(wires, "GET pods", "GET volumeattachments", "POST pods/NAME/eviction", "PATCH nodes/NAME"))
	b.Logf("ClusterCert calls: %d", fake.Calls(ccetest.OpClusterCert))
	res.removeCalls = fake.Calls(ccetest.OpRemoveNodes)
	removed := map[string]bool{}
	for _, rm := range fake.Removals() {
		for _, u := range rm.Nodes {
			removed[u] = true
		}
	}
	if len(removed) != drainNodes {
		b.Fatalf("CCE removed %d nodes, want %d", len(removed), drainNodes)
	}
	if d := fake.DoubleRemovals(); len(d) > 0 {
		b.Fatalf("nodes removed twice: %v", d)
	}
	return res
}

// setSchedulable cordons or uncordons a Node.
func setSchedulable(tb testing.TB, kc kubernetes.Interface, name string, ok bool) {
	tb.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, !ok)
	if _, err := kc.CoreV1().Nodes().Patch(tb.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		tb.Fatal(err)
	}
}

// createPinned creates a Deployment of podsPerNode replicas whose Pods may
// run only on nodes, with the grace period of drainGraceSecs. It does not
// wait: waitPlaced waits for all of them.
func createPinned(tb testing.TB, kc kubernetes.Interface, ns, name string, nodes []string) {
	tb.Helper()
	var terms []corev1.NodeSelectorTerm
	for _, n := range nodes {
		terms = append(terms, corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n}}}})
	}
	replicas, grace := int32(podsPerNode), int64(drainGraceSecs)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "main", Image: "registry.invalid/bench/pause:1"}},
					TerminationGracePeriodSeconds: &grace,
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
					}},
				},
			},
		},
	}
	if _, err := kc.AppsV1().Deployments(ns).Create(tb.Context(), d, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create deployment %s: %v", name, err)
	}
}

// waitPlaced waits until podsPerNode Running, Ready Pods of app-i are on
// targets[i], for every i.
func waitPlaced(tb testing.TB, kc kubernetes.Interface, ns string, targets []string) {
	tb.Helper()
	var seen string
	defer logUnlessHeld(tb, &seen)()
	testkit.WaitFor(tb, 5*time.Minute, "every node's Pods placed", func() bool {
		pods, err := kc.CoreV1().Pods(ns).List(tb.Context(), metav1.ListOptions{})
		if err != nil {
			seen = err.Error()
			return false
		}
		ready := map[string]int{}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && podReady(p) {
				ready[p.Labels["app"]+" "+p.Spec.NodeName]++
			}
		}
		placed := 0
		for i, n := range targets {
			if ready[fmt.Sprintf("app-%02d %s", i, n)] == podsPerNode {
				placed++
			}
		}
		seen = fmt.Sprintf("%d pods, %d of %d nodes with their %d", len(pods.Items), placed, len(targets), podsPerNode)
		return placed == len(targets)
	})
}

// createPDB puts a PodDisruptionBudget of maxUnavailable 1 over app name.
func createPDB(tb testing.TB, kc kubernetes.Interface, ns, name string) {
	tb.Helper()
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			MaxUnavailable: &one,
		},
	}
	if _, err := kc.PolicyV1().PodDisruptionBudgets(ns).Create(tb.Context(), pdb, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create pdb %s: %v", name, err)
	}
}

// waitPDBsReady waits until the disruption controller counts every PDB's
// Pods healthy and allows one disruption.
func waitPDBsReady(tb testing.TB, kc kubernetes.Interface, ns string) {
	tb.Helper()
	var seen string
	defer logUnlessHeld(tb, &seen)()
	testkit.WaitFor(tb, 2*time.Minute, "every PDB observed", func() bool {
		list, err := kc.PolicyV1().PodDisruptionBudgets(ns).List(tb.Context(), metav1.ListOptions{})
		if err != nil {
			seen = err.Error()
			return false
		}
		ready := 0
		for _, p := range list.Items {
			s := p.Status
			if s.ObservedGeneration >= p.Generation && s.CurrentHealthy == podsPerNode && s.DisruptionsAllowed == 1 {
				ready++
			}
		}
		seen = fmt.Sprintf("%d of %d PDBs ready", ready, len(list.Items))
		return ready == drainNodes
	})
}

func wireSum(wires []*wireLog, kinds ...string) float64 {
	n := 0
	for _, w := range wires {
		w.mu.Lock()
		for _, k := range kinds {
			n += w.kinds[k]
		}
		w.mu.Unlock()
	}
	return float64(n)
}

// logUnlessHeld returns a func, to defer, that logs what a wait saw last
// when the wait failed the benchmark.
func logUnlessHeld(tb testing.TB, seen *string) func() {
	return func() {
		if tb.Failed() {
			tb.Logf("last seen: %s", *seen)
		}
	}
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// wireLog is a counting proxy between one worker and kube-apiserver: the
// worker's kubeconfig (as its CCE endpoint hands it out) names the proxy,
// which passes each request on with the admin credentials and notes when
// it came and what it was.
type wireLog struct {
	*httptest.Server
	mu    sync.Mutex
	at    []time.Time
	kinds map[string]int // "METHOD path-kind"
}

func newWireLog(tb testing.TB, cp *kubetest.ControlPlane) *wireLog {
	tb.Helper()
	rt, err := rest.TransportFor(cp.RESTConfig())
	if err != nil {
		tb.Fatal(err)
	}
	target, err := url.Parse(cp.Host())
	if err != nil {
		tb.Fatal(err)
	}
	w := &wireLog{kinds: map[string]int{}}
	proxy := &httputil.ReverseProxy{Transport: rt, Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	w.Server = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.at = append(w.at, time.Now())
		w.kinds[r.Method+" "+pathKind(r.URL.Path)]++
		w.mu.Unlock()
		proxy.ServeHTTP(rw, r)
	}))
	tb.Cleanup(w.Close)
	return w
}

// pathKind names what a Kubernetes API path addresses: "pods",
// "pods/eviction", "nodes/NAME", ...
func pathKind(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range parts {
		if s == "namespaces" && i+2 < len(parts) {
			parts = append(parts[:i], parts[i+2:]...)
			break
		}
	}
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	}
	if len(parts) >= 2 {
		parts[1] = "NAME"
	}
	return strings.Join(parts, "/")
}

func (w *wireLog) times() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.at...)
}

// peakRate is the most requests in any one-second window.
func peakRate(at []time.Time) int {
	peak, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

// overBucket counts the requests that came when client-go's token bucket
// (qps a second, burst deep, full at first) had no token left, less one
// token of slack for the time between the limiter and the proxy.
func overBucket(at []time.Time, qps float64, burst int) int {
	over := 0
	tokens := float64(burst)
	for i, t := range at {
		if i > 0 {
			tokens = min(float64(burst), tokens+qps*t.Sub(at[i-1]).Seconds())
		}
		tokens--
		if tokens < -1 {
			over++
			tokens = -1
		}
	}
	return over
}

// cceFront is the fake CCE as one worker sees it: every answer as the fake
// gives it, but a kubeconfig's server is that worker's wireLog.
func cceFront(tb testing.TB, fake *ccetest.Server, apiserver, proxy string) string {
	tb.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/clustercert") {
			fake.Fake.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		fake.Fake.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		body := strings.ReplaceAll(rec.Body.String(), apiserver, proxy)
		rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
		rw.WriteHeader(rec.Code)
		_, _ = io.WriteString(rw, body)
	}))
	tb.Cleanup(s.Close)
	return s.URL
}

// scrapeMetrics reads a Prometheus text page into series → value, the
// series written as on the page (name{labels}); nil when it cannot.
func scrapeMetrics(ctx context.Context, url string) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseMetrics(string(body))
}

func parseMetrics(page string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(page, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] += v
	}
	return out
}

// apiserverCounts reads kube-apiserver's apiserver_request_total, summed
// by "VERB resource[/subresource]".
func apiserverCounts(tb testing.TB, kc kubernetes.Interface) map[string]float64 {
	tb.Helper()
	raw, err := kc.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(tb.Context())
	if err != nil {
		tb.Fatalf("kube-apiserver /metrics: %v", err)
	}
	out := map[string]float64{}
	for series, v := range parseMetrics(string(raw)) {
		rest, ok := strings.CutPrefix(series, "apiserver_request_total{")
		if !ok {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
			k, val, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(val, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += v
	}
	return out
}
