package drain

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// CordonedBy is the annotation noderemover puts on a Node it cordoned: its
// value is the owner (a request id).
const CordonedBy = "noderemover.io/cordoned-by"

// Cordon marks the Node unschedulable and annotates it with owner, unless
// it is already unschedulable and not annotated by owner: someone else
// cordoned it, and nothing changes. It reports whether the Node is now
// cordoned by owner; a second call by the same owner reports true again.
//
// The patch carries the resourceVersion read, so a change someone made in
// between is a conflict (read again and decide again), never overwritten.
func Cordon(ctx context.Context, c kubernetes.Interface, node, owner string) (bool, error) {
	var cordoned bool
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Spec.Unschedulable {
			cordoned = n.Annotations[CordonedBy] == owner
			return nil
		}
		if err := patchNode(ctx, c, n, true, &owner); err != nil {
			return err
		}
		cordoned = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cordon node %s: %w", node, err)
	}
	return cordoned, nil
}

// Uncordon makes the Node schedulable again if and only if its CordonedBy
// annotation is owner, and removes the annotation. A Node that is gone is
// not an error. It reports whether it uncordoned.
func Uncordon(ctx context.Context, c kubernetes.Interface, node, owner string) (bool, error) {
	var uncordoned bool
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Annotations[CordonedBy] != owner {
			return nil
		}
		if err := patchNode(ctx, c, n, false, nil); err != nil {
			return err
		}
		uncordoned = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("uncordon node %s: %w", node, err)
	}
	return uncordoned, nil
}

// patchNode sets spec.unschedulable and the CordonedBy annotation (nil:
// removes it) with a strategic merge patch that fails with a conflict
// when the Node is no longer at the resourceVersion n was read at.
func patchNode(ctx context.Context, c kubernetes.Interface, n *corev1.Node, unschedulable bool, owner *string) error {
	patch := map[string]any{
		"metadata": map[string]any{
			"resourceVersion": n.ResourceVersion,
			"annotations":     map[string]any{CordonedBy: owner},
		},
		"spec": map[string]any{"unschedulable": unschedulable},
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, raw, metav1.PatchOptions{})
	return err
}
