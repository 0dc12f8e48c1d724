package kubetest

import (
	"context"
	"fmt"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Evict asks for a policy/v1 Eviction of the Pod and returns the API's
// answer: nil when it was granted, a 429 (apierrors.IsTooManyRequests)
// when a PodDisruptionBudget forbids it now.
func (cp *ControlPlane) Evict(tb testing.TB, ns, name string) error {
	tb.Helper()
	return cp.Client(tb).PolicyV1().Evictions(ns).Evict(callCtx(tb), &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
	})
}

// WaitPodGone waits until the Pod with this uid no longer exists (a Pod of
// the same name and another uid does not count).
func (cp *ControlPlane) WaitPodGone(tb testing.TB, ns, name string, uid types.UID) {
	tb.Helper()
	c := cp.Client(tb)
	cp.waitFor(tb, fmt.Sprintf("pod %s/%s (%s) gone", ns, name, uid), func(ctx context.Context) (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, "not found"
		case err != nil:
			return false, err.Error()
		}
		return p.UID != uid, fmt.Sprintf("uid %s, phase %s, deleting=%v", p.UID, p.Status.Phase, p.DeletionTimestamp != nil)
	})
}

// EvictAndWaitGone evicts the Pod, failing the test when the Eviction is
// refused, and waits until kwok has deleted it, as a kubelet would.
func (cp *ControlPlane) EvictAndWaitGone(tb testing.TB, ns, name string) {
	tb.Helper()
	p, err := cp.Client(tb).CoreV1().Pods(ns).Get(callCtx(tb), name, metav1.GetOptions{})
	if err != nil {
		tb.Fatalf("kubetest: get pod %s/%s: %v", ns, name, err)
	}
	if err := cp.Evict(tb, ns, name); err != nil {
		tb.Fatalf("kubetest: evict pod %s/%s: %v", ns, name, err)
	}
	cp.WaitPodGone(tb, ns, name, p.UID)
}
