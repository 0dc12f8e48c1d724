package kubetest_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(kubetest.StopSharedAfter(m)) }

func TestSharedComesUp(t *testing.T) {
	start := time.Now()
	cp := kubetest.Shared(t)
	t.Logf("shared control plane at %s up in %v (binaries cached)", cp.Host(), time.Since(start))
	if _, err := cp.Client(t).CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace default: %v", err)
	}
}

func TestAddNodeKeepsTheInternalIP(t *testing.T) {
	cp := kubetest.Shared(t)
	c := cp.Client(t)
	for _, ip := range []string{"192.168.10.11", "192.168.10.12"} {
		name := kubetest.Name(t, "node")
		n := cp.AddNode(t, name, ip, map[string]string{"kubetest/ip": ip})
		if got := kubetest.InternalIP(n); got != ip {
			t.Errorf("AddNode(%s, %s): InternalIP %q", name, ip, got)
		}
		// Read again: kwok's stages must not have put their own IP back.
		again, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := kubetest.InternalIP(again); got != ip {
			t.Errorf("node %s: InternalIP %q after Ready, want %s", name, got, ip)
		}
		if again.Labels["kubetest/ip"] != ip {
			t.Errorf("node %s: labels %v", name, again.Labels)
		}
	}
}

func TestEvictionFollowsThePDB(t *testing.T) {
	cp := kubetest.Shared(t)
	nodes := []string{kubetest.Name(t, "a"), kubetest.Name(t, "b")}
	for i, n := range nodes {
		cp.AddNode(t, n, []string{"10.20.0.1", "10.20.0.2"}[i], nil)
	}
	for _, tc := range []struct {
		name         string
		minAvailable int32
		allowed      bool
	}{
		{"MinAvailableTwoRefuses", 2, false},
		{"MinAvailableOneEvicts", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cp.Namespace(t)
			w := kubetest.Workload{Name: "web", Replicas: 2, Placement: kubetest.Placement{Nodes: nodes}}
			cp.Deployment(t, ns, w)
			minAvailable := intstr.FromInt32(tc.minAvailable)
			cp.PDB(t, ns, kubetest.PDB{Name: "web", Selector: map[string]string{"app": "web"}, MinAvailable: &minAvailable})
			pods := cp.WaitPodsRunning(t, ns, w.Selector(), 2)
			victim := pods[0]
			err := cp.Evict(t, ns, victim.Name)
			if !tc.allowed {
				if !apierrors.IsTooManyRequests(err) {
					t.Fatalf("evict under minAvailable=%d: %v, want a 429", tc.minAvailable, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("evict under minAvailable=%d: %v", tc.minAvailable, err)
			}
			cp.WaitPodGone(t, ns, victim.Name, victim.UID)
			// The ReplicaSet replaces it on one of the test's Nodes.
			for _, p := range cp.WaitPodsRunning(t, ns, w.Selector(), 2) {
				if p.UID == victim.UID {
					t.Errorf("evicted pod %s still listed", p.Name)
				}
			}
		})
	}
}

func TestEvictAndWaitGoneBarePod(t *testing.T) {
	cp := kubetest.Shared(t)
	node := kubetest.Name(t, "n")
	cp.AddNode(t, node, "10.30.0.1", nil)
	ns := cp.Namespace(t)
	p := cp.Pod(t, ns, "lonely", node, map[string]string{"app": "lonely"})
	if p.Spec.NodeName != node || len(p.OwnerReferences) != 0 {
		t.Fatalf("pod on %q owned by %v", p.Spec.NodeName, p.OwnerReferences)
	}
	cp.EvictAndWaitGone(t, ns, "lonely")
}

func TestCCEKubeconfigLoads(t *testing.T) {
	cp := kubetest.Shared(t)
	raw, err := cp.CCEKubeconfig(time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatalf("clientcmd.Load: %v\n%s", err, raw)
	}
	if cfg.CurrentContext != "internal" {
		t.Errorf("current-context %q, want internal", cfg.CurrentContext)
	}
	if !cfg.Clusters["externalCluster"].InsecureSkipTLSVerify || len(cfg.Clusters["internalCluster"].CertificateAuthorityData) == 0 {
		t.Errorf("clusters: %+v", cfg.Clusters)
	}
	for _, context := range []string{"internal", "external"} {
		t.Run(context, func(t *testing.T) {
			rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != cp.Host() {
				t.Errorf("host %s, want %s", rc.Host, cp.Host())
			}
			listNodes(t, rc)
		})
	}
}

func TestKubeconfigForAGroup(t *testing.T) {
	cp := kubetest.Shared(t)
	raw, err := cp.Kubeconfig("alice", []string{"system:masters"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	listNodes(t, rc)

	// Without system:masters, RBAC refuses: the user is who the
	// certificate says.
	raw, err = cp.Kubeconfig("bob", []string{"nobody"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err = clientcmd.RESTConfigFromKubeConfig(raw); err != nil {
		t.Fatal(err)
	}
	_, err = kubernetes.NewForConfigOrDie(rc).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("bob lists nodes: %v, want forbidden", err)
	}
}

func TestExpiredCertificateRefused(t *testing.T) {
	cp := kubetest.Shared(t)
	raw, err := cp.CCEKubeconfig(time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kubernetes.NewForConfigOrDie(rc).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("list nodes with an expired certificate: %v, want 401", err)
	}
}

func listNodes(t *testing.T, rc *rest.Config) {
	t.Helper()
	if _, err := kubernetes.NewForConfigOrDie(rc).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("list nodes: %v", err)
	}
}

// TestInternalIPSurvivesHeartbeat: kwok's heartbeat stage (every 20–45s)
// rewrites the Node's conditions and leaves its addresses as AddNode made
// them.
func TestInternalIPSurvivesHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for one kwok heartbeat, up to 45s")
	}
	t.Parallel()
	cp := kubetest.Shared(t)
	c := cp.Client(t)
	name, ip := kubetest.Name(t, "hb"), "10.40.0.1"
	first := readyHeartbeat(cp.AddNode(t, name, ip, nil))
	var n *corev1.Node
	testkit.WaitFor(t, 90*time.Second, "a kwok heartbeat on "+name, func() bool {
		got, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n = got
		return readyHeartbeat(n).After(first)
	})
	if got := kubetest.InternalIP(n); got != ip {
		t.Errorf("InternalIP %q after a heartbeat, want %s (addresses %v)", got, ip, n.Status.Addresses)
	}
}

func readyHeartbeat(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

// TestStartStopsOnCleanup: a control plane of a test's own is gone once
// the test is.
func TestStartStopsOnCleanup(t *testing.T) {
	var host string
	t.Run("Own", func(t *testing.T) {
		cp := kubetest.Start(t)
		host = cp.Host()
		listNodes(t, cp.RESTConfig())
	})
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(host, "https://"), time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("%s still answers after its test ended", host)
	}
}

// TestWorkloadBuilders: a DaemonSet kept to the test's Nodes by a label
// runs one Pod on each; a Deployment pinned to one Node carries its grace
// period and emptyDir volume there.
func TestWorkloadBuilders(t *testing.T) {
	cp := kubetest.Shared(t)
	pool := map[string]string{"kubetest/pool": kubetest.Name(t, "p")}
	nodes := []string{kubetest.Name(t, "w1"), kubetest.Name(t, "w2")}
	for i, n := range nodes {
		cp.AddNode(t, n, []string{"10.50.0.1", "10.50.0.2"}[i], pool)
	}
	ns := cp.Namespace(t)

	ds := cp.DaemonSet(t, ns, kubetest.Workload{Name: "agent", Placement: kubetest.Placement{NodeSelector: pool}})
	if ds.Status.NumberReady != 2 {
		t.Errorf("daemonset ready on %d nodes, want 2", ds.Status.NumberReady)
	}
	on := map[string]bool{}
	for _, p := range cp.WaitPodsRunning(t, ns, "app=agent", 2) {
		on[p.Spec.NodeName] = true
	}
	if !on[nodes[0]] || !on[nodes[1]] {
		t.Errorf("daemonset pods on %v, want %v", on, nodes)
	}

	grace := int64(5)
	w := kubetest.Workload{Name: "db", Replicas: 3, Labels: map[string]string{"tier": "db"},
		Placement: kubetest.Placement{Nodes: nodes[1:]}, TerminationGracePeriodSeconds: &grace, EmptyDir: true}
	cp.Deployment(t, ns, w)
	for _, p := range cp.WaitPodsRunning(t, ns, w.Selector(), 3) {
		if p.Spec.NodeName != nodes[1] {
			t.Errorf("pod %s on %s, want %s", p.Name, p.Spec.NodeName, nodes[1])
		}
		if p.Spec.TerminationGracePeriodSeconds == nil || *p.Spec.TerminationGracePeriodSeconds != grace {
			t.Errorf("pod %s grace %v, want %d", p.Name, p.Spec.TerminationGracePeriodSeconds, grace)
		}
		if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].EmptyDir == nil {
			t.Errorf("pod %s volumes %+v, want one emptyDir", p.Name, p.Spec.Volumes)
		}
	}

	maxUnavailable := intstr.FromString("50%")
	pdb := cp.PDB(t, ns, kubetest.PDB{Name: "db", Selector: w.Labels, MaxUnavailable: &maxUnavailable})
	if pdb.Status.CurrentHealthy != 3 || pdb.Status.DisruptionsAllowed < 1 {
		t.Errorf("pdb status %+v, want 3 healthy and a disruption allowed", pdb.Status)
	}
}
