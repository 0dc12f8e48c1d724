package kube

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
)

// issueTimeout bounds one issuance, which callers share: it does not end
// when the caller that started it gives up.
const issueTimeout = time.Minute

// cceClient returns the cluster's client while its certificate has more
// than a third of its life left, else asks CCE for a new kubeconfig; the
// callers of one cluster share one issuance.
func (a *Access) cceClient(ctx context.Context, key clusterKey) (kubernetes.Interface, error) {
	if c := a.cachedFor(key); c != nil && a.o.Now().Before(c.renewAt) {
		return c.client, nil
	}
	ch := a.flight.DoChan(key.String(), func() (any, error) {
		if c := a.cachedFor(key); c != nil && a.o.Now().Before(c.renewAt) {
			return c.client, nil // an issuance that ended just now
		}
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), issueTimeout)
		defer cancel()
		c, err := a.issue(ictx, key)
		if err != nil {
			return nil, err
		}
		a.store(key, c)
		return c.client, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("kube: cluster %s: wait for a kubeconfig: %w", key.cluster, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(kubernetes.Interface), nil
	}
}

// issue asks CCE for a kubeconfig and makes a client of its cluster entry.
// It is renewed once two thirds of the certificate's life have passed
// (from its NotAfter; from CertTTL if it has none to read).
func (a *Access) issue(ctx context.Context, key clusterKey) (*cached, error) {
	issued := a.o.Now()
	api, err := a.issuer(key.region)
	if err != nil {
		return nil, err
	}
	raw, err := api.ClusterCert(ctx, key.project, key.cluster, a.o.CertTTL)
	if err != nil {
		return nil, fmt.Errorf("kube: issue a kubeconfig for cluster %s: %w", key.cluster, scrubbed(err))
	}
	rc, err := restConfig(raw, a.entry, "")
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig CCE issued for cluster %s: %w", key.cluster, err)
	}
	notAfter, ok := certNotAfter(rc)
	if !ok {
		notAfter = issued.Add(a.o.CertTTL)
	}
	if !notAfter.After(issued) {
		return nil, fmt.Errorf("kube: kubeconfig CCE issued for cluster %s: its certificate ended at %s", key.cluster, notAfter.UTC().Format(time.RFC3339))
	}
	c, err := a.newCached(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: cluster %s: %w", key.cluster, err)
	}
	c.renewAt = issued.Add(notAfter.Sub(issued) * 2 / 3)
	return c, nil
}
