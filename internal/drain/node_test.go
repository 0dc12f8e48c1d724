package drain_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/noderemover/noderemover/internal/drain"
)

func TestProtected(t *testing.T) {
	for _, a := range []string{"noderemover.io/do-not-remove", "cluster-autoscaler.kubernetes.io/scale-down-disabled", "karpenter.sh/do-not-disrupt"} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{a: "true"}}}
		if got := drain.Protected(n); got != a {
			t.Errorf("%s=true: Protected = %q", a, got)
		}
		n.Annotations[a] = "false"
		if got := drain.Protected(n); got != "" {
			t.Errorf("%s=false: Protected = %q, want none", a, got)
		}
	}
	if got := drain.Protected(&corev1.Node{}); got != "" {
		t.Errorf("no annotations: Protected = %q", got)
	}
}

func TestFindNode(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.7.1")
	for _, tc := range []struct{ name, ip string }{{n.Name, ""}, {"192.168.0.9", "10.88.7.1"}, {"", "10.88.7.1"}} {
		got, err := drain.FindNode(ctx(t), k.c, tc.name, tc.ip)
		if err != nil || got.UID != n.UID {
			t.Errorf("FindNode(%q, %q) = %v, %v; want node %s", tc.name, tc.ip, got, err, n.Name)
		}
	}
	_, err := drain.FindNode(ctx(t), k.c, "drain-find-none", "10.88.7.99")
	if !errors.Is(err, drain.ErrNodeNotFound) || !strings.Contains(err.Error(), "drain-find-none") || !strings.Contains(err.Error(), "10.88.7.99") {
		t.Errorf("FindNode of no node: %v, want ErrNodeNotFound naming the name and the IP", err)
	}
}

func TestCordon(t *testing.T) {
	k := newCluster(t)
	get := func(t *testing.T, name string) *corev1.Node {
		t.Helper()
		n, err := k.c.CoreV1().Nodes().Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cordon := func(t *testing.T, node, owner string, want bool) {
		t.Helper()
		if got, err := drain.Cordon(ctx(t), k.c, node, owner); err != nil || got != want {
			t.Fatalf("Cordon(%s, %s) = %v, %v; want %v", node, owner, got, err, want)
		}
	}
	uncordon := func(t *testing.T, node, owner string, want bool) {
		t.Helper()
		if got, err := drain.Uncordon(ctx(t), k.c, node, owner); err != nil || got != want {
			t.Fatalf("Uncordon(%s, %s) = %v, %v; want %v", node, owner, got, err, want)
		}
	}

	t.Run("SameOwnerTwice", func(t *testing.T) {
		n := k.node(t, "twice", "10.88.8.1")
		cordon(t, n.Name, "req-1", true)
		cordon(t, n.Name, "req-1", true) // after a crash, say
		got := get(t, n.Name)
		if !got.Spec.Unschedulable || got.Annotations[drain.CordonedBy] != "req-1" {
			t.Fatalf("cordoned node: unschedulable %v, annotations %v", got.Spec.Unschedulable, got.Annotations)
		}
		uncordon(t, n.Name, "req-1", true)
		got = get(t, n.Name)
		if _, ok := got.Annotations[drain.CordonedBy]; got.Spec.Unschedulable || ok {
			t.Errorf("uncordoned node: unschedulable %v, annotations %v", got.Spec.Unschedulable, got.Annotations)
		}
		uncordon(t, n.Name, "req-1", false)
	})
	t.Run("SomeoneElseCordoned", func(t *testing.T) {
		n := k.node(t, "other", "10.88.8.2")
		if _, err := k.c.CoreV1().Nodes().Patch(ctx(t), n.Name, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		cordon(t, n.Name, "req-1", false)
		uncordon(t, n.Name, "req-1", false)
		got := get(t, n.Name)
		if _, ok := got.Annotations[drain.CordonedBy]; !got.Spec.Unschedulable || ok {
			t.Errorf("node someone else cordoned: unschedulable %v, annotations %v", got.Spec.Unschedulable, got.Annotations)
		}
	})
	t.Run("OtherOwnerCannotUncordon", func(t *testing.T) {
		n := k.node(t, "owner", "10.88.8.3")
		cordon(t, n.Name, "req-1", true)
		cordon(t, n.Name, "req-2", false)
		uncordon(t, n.Name, "req-2", false)
		if got := get(t, n.Name); !got.Spec.Unschedulable || got.Annotations[drain.CordonedBy] != "req-1" {
			t.Errorf("after another owner's uncordon: unschedulable %v, annotations %v", got.Spec.Unschedulable, got.Annotations)
		}
	})
	t.Run("GoneNode", func(t *testing.T) {
		uncordon(t, "drain-cordon-gone", "req-1", false)
		if _, err := drain.Cordon(ctx(t), k.c, "drain-cordon-gone", "req-1"); err == nil {
			t.Error("Cordon of a node that is not there: no error")
		}
	})
}

func TestEvent(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.9.1")
	if err := drain.Event(ctx(t), k.c, n, corev1.EventTypeNormal, "Draining", "request r-1: draining before CCE removes the node"); err != nil {
		t.Fatal(err)
	}
	list, err := k.c.CoreV1().Events(metav1.NamespaceAll).List(ctx(t), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + n.Name,
	})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range list.Items {
		if e.Reason == "Draining" && e.Source.Component == "noderemover" && e.InvolvedObject.UID == n.UID && e.Type == corev1.EventTypeNormal &&
			e.Message == "request r-1: draining before CCE removes the node" {
			found = true
		}
	}
	if !found {
		t.Errorf("events of node %s: %+v, want the Draining one", n.Name, list.Items)
	}
}
