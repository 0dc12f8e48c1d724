package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// notFound: CCE lists no node that is this Node.
type notFound struct{ name, ip, cluster string }

func (e *notFound) Error() string {
	return fmt.Sprintf("CCE lists no node of cluster %s with the private IP %q or the name %q of this Node", e.cluster, e.ip, e.name)
}

// cceNode finds the CCE node uid of Node n: the node whose private IP is
// the Node's InternalIP, else the one named as the Node.
func (c *Controller) cceNode(ctx context.Context, cl Cluster, n *corev1.Node) (string, error) {
	list, err := c.nodes.ListNodes(ctx, cl.ProjectID, cl.ClusterID)
	if err != nil {
		return "", fmt.Errorf("list the CCE nodes of cluster %s: %w", cl, err)
	}
	ip := internalIP(n)
	if ip != "" {
		for _, cn := range list {
			if cn.Status.PrivateIP == ip {
				return cn.Metadata.UID, nil
			}
		}
	}
	for _, cn := range list {
		if cn.Metadata.Name == n.Name {
			return cn.Metadata.UID, nil
		}
	}
	return "", &notFound{name: n.Name, ip: ip, cluster: cl.ClusterID}
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
