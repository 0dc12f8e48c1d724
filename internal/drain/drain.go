// Package drain owns what noderemover does to one Kubernetes Node and its
// Pods before CCE reinstalls the Node: finding it, telling whether it is
// protected from removal, cordoning it (and uncordoning it if the request
// ends otherwise), evicting its Pods through the Eviction API as
// `kubectl drain` does, so PodDisruptionBudgets hold, and recording Events
// on it. Nothing here waits for a Pod to go: Step makes one bounded pass and
// reports where the drain stands, and the caller comes back later.
package drain

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Options are the drain settings of a request.
type Options struct {
	GracePeriod        *time.Duration // nil: each Pod's own terminationGracePeriodSeconds
	DeleteEmptyDirData bool           // evict Pods with emptyDir volumes
	Force              bool           // evict Pods with no controller
}

// ErrNodeNotFound is the condition of a Node that neither its name nor its
// address finds.
var ErrNodeNotFound = errors.New("node not found")

// DoNotDisrupt is Karpenter's annotation: on a Node it protects the Node, on
// a Pod it holds the Pod on its Node as a PodDisruptionBudget would.
const DoNotDisrupt = "karpenter.sh/do-not-disrupt"

// protections are the annotations that protect a Node from removal when
// their value is "true", in the order Protected looks at them.
var protections = []string{
	"noderemover.io/do-not-remove",
	"cluster-autoscaler.kubernetes.io/scale-down-disabled",
	DoNotDisrupt,
}

// Protected returns the annotation that protects a Node from removal, or
// "": noderemover.io/do-not-remove,
// cluster-autoscaler.kubernetes.io/scale-down-disabled,
// karpenter.sh/do-not-disrupt, each with value "true".
func Protected(n *corev1.Node) string {
	for _, a := range protections {
		if n.Annotations[a] == "true" {
			return a
		}
	}
	return ""
}

// FindNode finds the Node by name, else by an InternalIP address equal to
// ip. Either may be empty. Not found: an error wrapping ErrNodeNotFound
// that says what was looked for.
func FindNode(ctx context.Context, c kubernetes.Interface, name, ip string) (*corev1.Node, error) {
	if name != "" {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			return n, nil
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("get node %s: %w", name, err)
		}
	}
	if ip != "" {
		opts := metav1.ListOptions{Limit: 500}
		for {
			list, err := c.CoreV1().Nodes().List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list nodes to find InternalIP %s: %w", ip, err)
			}
			for i := range list.Items {
				for _, a := range list.Items[i].Status.Addresses {
					if a.Type == corev1.NodeInternalIP && a.Address == ip {
						return &list.Items[i], nil
					}
				}
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
	}
	return nil, fmt.Errorf("no node named %q nor with InternalIP %q: %w", name, ip, ErrNodeNotFound)
}
