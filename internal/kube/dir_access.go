package kube

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// safeName is a cluster id that is a plain file name: no separator, no
// "..", not hidden (a mounted Secret's "..data" is not a cluster).
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// dirClient returns the client made from KUBECONFIG_DIR/<clusterID>, made
// again when the file changed. Each call costs a stat (which follows the
// symlinks a mounted Secret swaps); the file is read only when the stat
// differs, and a client made again only when the content does.
func (a *Access) dirClient(clusterID string) (kubernetes.Interface, error) {
	if !safeName.MatchString(clusterID) || strings.Contains(clusterID, "..") {
		return nil, fmt.Errorf("kube: cluster id %q is not a safe file name in KUBECONFIG_DIR", clusterID)
	}
	path := filepath.Join(a.o.Dir, clusterID)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("kube: no kubeconfig for cluster %s: %s does not exist (KUBECONFIG_DIR)", clusterID, path)
	case err != nil:
		return nil, fmt.Errorf("kube: kubeconfig of cluster %s (KUBECONFIG_DIR): %w", clusterID, err)
	case fi.IsDir():
		return nil, fmt.Errorf("kube: kubeconfig of cluster %s: %s is a directory (KUBECONFIG_DIR)", clusterID, path)
	}
	key := clusterKey{cluster: clusterID}
	if c := a.cachedFor(key); c != nil && sameFile(c.file, fi) {
		return c.client, nil
	}
	v, err, _ := a.flight.Do("dir/"+clusterID, func() (any, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("kube: kubeconfig of cluster %s (KUBECONFIG_DIR): %w", clusterID, err)
		}
		sum := sha256.Sum256(raw)
		if c := a.cachedFor(key); c != nil && c.sum == sum {
			a.touch(key, c, fi) // the same content, stamped anew
			return c.client, nil
		}
		rc, err := restConfig(raw, "", path)
		if err != nil {
			return nil, fmt.Errorf("kube: kubeconfig %s of cluster %s: %w", path, clusterID, err)
		}
		c, err := a.newCached(rc)
		if err != nil {
			return nil, fmt.Errorf("kube: kubeconfig %s of cluster %s: %w", path, clusterID, err)
		}
		c.file, c.sum = fi, sum
		a.store(key, c)
		return c.client, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(kubernetes.Interface), nil
}

// touch records that the cluster's file, unchanged in content, now stats as fi.
func (a *Access) touch(key clusterKey, c *cached, fi os.FileInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients[key] == c {
		updated := *c
		updated.file = fi
		a.clients[key] = &updated
	}
}

// sameFile reports whether two stats are of the same, unchanged file.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
