package drain

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Component is the source of the Events noderemover records.
const Component = "noderemover"

// Event records a Kubernetes Event on the Node (reason e.g. "Draining",
// "DrainFailed", "HandedToCCE"; eventType corev1.EventTypeNormal or
// corev1.EventTypeWarning), where `kubectl describe node` shows it. An
// Event that cannot be created is an error; callers log it and go on.
//
// Like client-go's recorder, an Event about a Node (which has no
// namespace) is kept in the default namespace and named after the Node and
// the time; it is written directly, not through a broadcaster, since a
// handler that returns must not leave a goroutine behind.
func Event(ctx context.Context, c kubernetes.Interface, node *corev1.Node, eventType, reason, message string) error {
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", node.Name, now.UnixNano()),
			Namespace: metav1.NamespaceDefault,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1",
			Kind:       "Node",
			Name:       node.Name,
			UID:        node.UID,
		},
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Source:              corev1.EventSource{Component: Component},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: Component,
	}
	if _, err := c.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("record event %s on node %s: %w", reason, node.Name, err)
	}
	return nil
}
