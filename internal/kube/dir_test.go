package kube_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/internal/kube"
)

// nodeName lists the cluster's nodes and returns the one's name.
func nodeName(tb testing.TB, c kubernetes.Interface) string {
	tb.Helper()
	list, err := c.CoreV1().Nodes().List(tb.Context(), metav1.ListOptions{})
	if err != nil {
		tb.Fatalf("list nodes: %v", err)
	}
	if len(list.Items) != 1 {
		tb.Fatalf("%d nodes", len(list.Items))
	}
	return list.Items[0].Name
}

// secretDir lays out a kubeconfig as a mounted Secret does: dir/<key> is
// a symlink to ..data/<key>, and ..data a symlink to a timestamped
// directory that an update replaces in one rename.
type secretDir struct {
	dir string
	n   int
}

func (s *secretDir) write(tb testing.TB, files map[string][]byte) {
	tb.Helper()
	s.n++
	ts := filepath.Join(s.dir, "..ts"+strings.Repeat("x", s.n))
	if err := os.Mkdir(ts, 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
		link := filepath.Join(s.dir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		tb.Fatal(err)
	}
}

func TestDirReadsTheFileAndItsUpdates(t *testing.T) {
	p := newPKI(t)
	a, b := p.apiServer(t, "node-a"), p.apiServer(t, "node-b")
	sd := &secretDir{dir: t.TempDir()}
	cert, key := p.client(t, time.Now().Add(time.Hour))
	sd.write(t, map[string][]byte{"clus-1": p.kubeconfig(a.URL, "", "internal", cert, key)})

	access, err := kube.New(kube.Options{Mode: "dir", Dir: sd.dir})
	if err != nil {
		t.Fatal(err)
	}
	if access.Mode() != "dir" || !access.Enabled() {
		t.Errorf("Mode %q, Enabled %v", access.Mode(), access.Enabled())
	}
	first, err := access.Client(t.Context(), "", "", "clus-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeName(t, first); got != "node-a" {
		t.Errorf("node %q, want node-a", got)
	}
	again, err := access.Client(t.Context(), "", "proj", "clus-1")
	if err != nil || again != first {
		t.Errorf("second Client = %p, %v; want the same client %p", again, err, first)
	}
	if agents := a.userAgents(); len(agents) == 0 || !strings.HasPrefix(agents[0], "noderemover") {
		t.Errorf("user agents %q", agents)
	}

	// The Secret is updated: a new certificate and another server.
	cert, key = p.client(t, time.Now().Add(time.Hour))
	sd.write(t, map[string][]byte{"clus-1": p.kubeconfig(b.URL, "", "internal", cert, key)})
	updated, err := access.Client(t.Context(), "", "", "clus-1")
	if err != nil {
		t.Fatal(err)
	}
	if updated == first {
		t.Error("the client was kept after the file changed")
	}
	if got := nodeName(t, updated); got != "node-b" {
		t.Errorf("node %q after the update, want node-b", got)
	}
}

func TestDirSameContentKeepsTheClient(t *testing.T) {
	p := newPKI(t)
	a := p.apiServer(t, "node-a")
	sd := &secretDir{dir: t.TempDir()}
	cert, key := p.client(t, time.Now().Add(time.Hour))
	config := p.kubeconfig(a.URL, "", "internal", cert, key)
	sd.write(t, map[string][]byte{"clus-1": config})
	access, err := kube.New(kube.Options{Mode: "dir", Dir: sd.dir})
	if err != nil {
		t.Fatal(err)
	}
	first, err := access.Client(t.Context(), "", "", "clus-1")
	if err != nil {
		t.Fatal(err)
	}
	sd.write(t, map[string][]byte{"clus-1": config})
	if again, err := access.Client(t.Context(), "", "", "clus-1"); err != nil || again != first {
		t.Errorf("Client after a rewrite with the same content = %p, %v; want %p", again, err, first)
	}
}

func TestDirErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	cert, key := p.client(t, time.Now().Add(time.Hour))
	broken := append([]byte("{not json: "), p.kubeconfig("https://127.0.0.1:1", "", "internal", cert, key)...)
	if err := os.WriteFile(filepath.Join(dir, "broken"), broken, 0o600); err != nil {
		t.Fatal(err)
	}
	noContext := p.kubeconfig("https://127.0.0.1:1", "", "elsewhere", cert, key)
	if err := os.WriteFile(filepath.Join(dir, "no-context"), noContext, 0o600); err != nil {
		t.Fatal(err)
	}
	badKey := p.kubeconfig("https://127.0.0.1:1", "", "internal", cert, key[:len(key)-30]) // cut short
	if err := os.WriteFile(filepath.Join(dir, "bad-key"), badKey, 0o600); err != nil {
		t.Fatal(err)
	}
	access, err := kube.New(kube.Options{Mode: "dir", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cluster string
		wants         []string
	}{
		{"Missing", "clus-9", []string{filepath.Join(dir, "clus-9"), "KUBECONFIG_DIR", "does not exist"}},
		{"Parent", "..", []string{"safe file name"}},
		{"Dotted", "../etc", []string{"safe file name"}},
		{"Slash", "a/b", []string{"safe file name"}},
		{"SecretData", "..data", []string{"safe file name"}},
		{"Hidden", ".x", []string{"safe file name"}},
		{"Broken", "broken", []string{"broken"}},
		{"NoContext", "no-context", []string{"no-context"}},
		{"BadKey", "bad-key", []string{"bad-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := access.Client(t.Context(), "", "", tc.cluster)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			p.noSecret(t, err)
		})
	}
}

func TestObserveCountsEveryRequest(t *testing.T) {
	p := newPKI(t)
	a := p.apiServer(t, "node-a")
	sd := &secretDir{dir: t.TempDir()}
	cert, key := p.client(t, time.Now().Add(time.Hour))
	sd.write(t, map[string][]byte{"clus-1": p.kubeconfig(a.URL, "", "internal", cert, key)})
	var codes []int
	var mu sync.Mutex
	access, err := kube.New(kube.Options{Mode: "dir", Dir: sd.dir, Observe: func(code int) {
		mu.Lock()
		defer mu.Unlock()
		codes = append(codes, code)
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := access.Client(t.Context(), "", "", "clus-1")
	if err != nil {
		t.Fatal(err)
	}
	nodeName(t, c)
	nodeName(t, c)
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 2 || codes[0] != 200 || codes[1] != 200 {
		t.Errorf("observed %v, want two 200s", codes)
	}
}
