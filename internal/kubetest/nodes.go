package kubetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddNode registers a Node managed by kwok with this name and InternalIP
// (status.addresses of type InternalIP is ip) and waits until it is Ready,
// without the not-ready taint, so Pods can be scheduled on it. It returns
// the Node. The Node is deleted when the test ends (if it is still there).
//
// Node names are cluster-wide: tests sharing a control plane pick their
// own (NodeName helps).
func (cp *ControlPlane) AddNode(tb testing.TB, name, ip string, labels map[string]string) *corev1.Node {
	tb.Helper()
	c := cp.Client(tb)
	addresses := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	// A Node is created with its status, as a kubelet registers one. kwok's
	// node-initialize stage adds an InternalIP (its --node-ip) and a Hostname
	// (its --node-name, which we do not set) only where they are missing,
	// and when one is missing it writes "addresses:" with only what it adds
	// under it: with an InternalIP but no Hostname that is an empty list,
	// which wipes the addresses. So both are given; the heartbeat stage
	// leaves addresses alone.
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status:     corev1.NodeStatus{Addresses: addresses},
	}
	if _, err := c.CoreV1().Nodes().Create(callCtx(tb), node, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: create node %s: %v", name, err)
	}
	tb.Cleanup(func() {
		err := c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			tb.Errorf("kubetest: delete node %s: %v", name, err)
		}
	})
	var got *corev1.Node
	cp.waitFor(tb, fmt.Sprintf("node %s Ready with InternalIP %s", name, ip), func(ctx context.Context) (bool, string) {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = n
		seen := fmt.Sprintf("ready=%v addresses=%v taints=%v", nodeReady(n), n.Status.Addresses, n.Spec.Taints)
		return nodeReady(n) && InternalIP(n) == ip && !slices.ContainsFunc(n.Spec.Taints, isNotReadyTaint), seen
	})
	return got
}

// InternalIP is the Node's first address of type InternalIP, or "".
func InternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isNotReadyTaint(t corev1.Taint) bool {
	return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
}
