// Package kubetest owns a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which
// plays every Node's kubelet) as child processes on loopback ports, with a
// CA of its own whose client certificates the apiserver trusts. It also
// owns the builders drain tests use: Nodes, namespaces, Deployments,
// PodDisruptionBudgets, DaemonSets, bare Pods, and waits on them. It is
// imported by tests only.
//
// The binaries come from NODEREMOVER_KUBE_BIN (a directory) or from
// tools/build.sh, which builds them from pinned Go modules (about ten
// minutes cold, instant once cached).
package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// readyTimeout bounds each wait of startup: etcd healthy, the apiserver
// ready. The machines that run the tests have two shared cores.
const readyTimeout = 60 * time.Second

// ControlPlane is one running control plane.
type ControlPlane struct {
	dir   string // certificates, kubeconfigs, data and logs
	host  string // https://127.0.0.1:port
	ca    *authority
	admin *rest.Config
	procs []*proc // in start order

	stopOnce sync.Once
}

// Start starts a control plane of the test's own, stopped when the test
// ends. It fails the test when the binaries cannot be had or a component
// does not come up.
func Start(tb testing.TB) *ControlPlane {
	tb.Helper()
	cp, err := start(tb.TempDir())
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	tb.Cleanup(cp.stop)
	return cp
}

var shared struct {
	mu   sync.Mutex
	once sync.Once
	cp   *ControlPlane
	err  error
}

// Shared returns the test binary's one control plane, starting it on the
// first call. It stays up until StopShared; should the binary end first,
// the kernel kills its processes (Pdeathsig). Tests sharing it keep apart
// with Namespace and Node names of their own.
func Shared(tb testing.TB) *ControlPlane {
	tb.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "kubetest-")
		if err != nil {
			shared.err = fmt.Errorf("temp dir: %w", err)
			return
		}
		cp, err := start(dir)
		if err != nil {
			_ = os.RemoveAll(dir)
			shared.err = err
			return
		}
		shared.mu.Lock()
		shared.cp = cp
		shared.mu.Unlock()
	})
	if shared.err != nil {
		tb.Fatalf("kubetest: shared control plane: %v", shared.err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cp == nil {
		tb.Fatal("kubetest: Shared after StopShared")
	}
	return shared.cp
}

// StopShared stops the shared control plane, if one was started, and
// removes its files. TestMain calls it after m.Run (StopSharedAfter does).
func StopShared() {
	shared.mu.Lock()
	cp := shared.cp
	shared.cp = nil
	shared.mu.Unlock()
	if cp != nil {
		cp.stop()
		_ = os.RemoveAll(cp.dir)
	}
}

// StopSharedAfter wraps m so that the shared control plane stops once the
// tests have run, before testkit.Main looks for leaked goroutines:
//
//	func TestMain(m *testing.M) { testkit.Main(kubetest.StopSharedAfter(m)) }
func StopSharedAfter(m interface{ Run() int }) interface{ Run() int } { return stopAfter{m} }

type stopAfter struct{ m interface{ Run() int } }

func (s stopAfter) Run() int {
	defer StopShared()
	return s.m.Run()
}

// Host is the apiserver's URL, https://127.0.0.1:PORT.
func (cp *ControlPlane) Host() string { return cp.host }

// CAData is the PEM of the CA the apiserver trusts for client certificates
// and that signed its serving certificate.
func (cp *ControlPlane) CAData() []byte { return append([]byte(nil), cp.ca.certPEM...) }

// RESTConfig is a config for an admin (system:masters) client.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.admin) }

// Client returns an admin clientset.
func (cp *ControlPlane) Client(tb testing.TB) kubernetes.Interface {
	tb.Helper()
	c, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		tb.Fatalf("kubetest: clientset: %v", err)
	}
	return c
}

// Dir is the directory of the control plane's files; the components' logs
// are <name>.log in it.
func (cp *ControlPlane) Dir() string { return cp.dir }

// start brings a control plane up in dir: etcd, then the apiserver, then
// the controller manager, the scheduler and kwok together. On error it
// stops whatever it started.
func start(dir string) (cp *ControlPlane, err error) {
	type found struct {
		val string
		err error
	}
	bins, stages := make(chan found, 1), make(chan found, 1)
	go func() { d, err := binDir(); bins <- found{d, err} }()
	go func() { s, err := writeStages(dir); stages <- found{s, err} }()

	cp = &ControlPlane{dir: dir}
	defer func() {
		if err != nil {
			cp.stop()
		}
	}()
	files, err := cp.writeCredentials()
	if err != nil {
		return nil, err
	}
	b := <-bins
	if b.err != nil {
		return nil, b.err
	}
	s := <-stages
	if s.err != nil {
		return nil, s.err
	}
	bin := func(name string) string { return filepath.Join(b.val, name) }

	etcdPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := cp.run(bin("etcd"), "etcd",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(etcd, &http.Client{Timeout: 2 * time.Second}, etcdURL+"/health", `"health":"true"`); err != nil {
		return nil, err
	}

	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cp.host = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	cp.admin.Host = cp.host
	if err := writeFile(files.kubeconfig, mustKubeconfig(cp.host, cp.ca.certPEM, files.adminCert, files.adminKey)); err != nil {
		return nil, err
	}
	api, err := cp.run(bin("kube-apiserver"), "kube-apiserver",
		"--etcd-servers", etcdURL,
		"--secure-port", strconv.Itoa(apiPort), "--bind-address", "127.0.0.1",
		"--cert-dir", filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file", files.servingCert, "--tls-private-key-file", files.servingKey,
		"--client-ca-file", files.ca,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", files.saPub, "--service-account-signing-key-file", files.saKey,
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false", "--profiling=false")
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(api, cp.adminHTTP(), cp.host+"/readyz", "ok"); err != nil {
		return nil, err
	}

	// The node lifecycle controller's grace is longer than its default
	// (50s): kwok's heartbeat comes every 20–45s, and on two busy cores a
	// late one would mark a Node NotReady in the middle of a test.
	if _, err := cp.run(bin("kube-controller-manager"), "kube-controller-manager",
		"--kubeconfig", files.kubeconfig,
		"--controllers", "disruption,replicaset,deployment,daemonset,garbagecollector,nodelifecycle,podgc",
		"--leader-elect=false", "--secure-port", "0",
		"--service-account-private-key-file", files.saKey,
		"--node-monitor-grace-period", "2m"); err != nil {
		return nil, err
	}
	if _, err := cp.run(bin("kube-scheduler"), "kube-scheduler",
		"--kubeconfig", files.kubeconfig, "--leader-elect=false", "--secure-port", "0"); err != nil {
		return nil, err
	}
	if _, err := cp.run(bin("kwok"), "kwok",
		"--kubeconfig", files.kubeconfig, "--manage-all-nodes=true",
		"--cidr", "10.1.0.0/16", "--node-ip", defaultNodeIP, "--config", s.val); err != nil {
		return nil, err
	}
	return cp, nil
}

// credentials are the files the components read.
type credentials struct {
	ca, servingCert, servingKey, saKey, saPub, kubeconfig string
	adminCert, adminKey                                   []byte
}

// writeCredentials makes the CA, the apiserver's serving certificate, the
// service-account keys and an admin client certificate, and writes what the
// components read into cp.dir.
func (cp *ControlPlane) writeCredentials() (credentials, error) {
	var c credentials
	ca, err := newAuthority()
	if err != nil {
		return c, err
	}
	cp.ca = ca
	servingCert, servingKey, err := ca.serving()
	if err != nil {
		return c, err
	}
	c.adminCert, c.adminKey, err = ca.client("kubetest-admin", []string{"system:masters"}, time.Now().Add(10*365*24*time.Hour))
	if err != nil {
		return c, err
	}
	c.ca = filepath.Join(cp.dir, "ca.crt")
	c.servingCert, c.servingKey = filepath.Join(cp.dir, "apiserver.crt"), filepath.Join(cp.dir, "apiserver.key")
	c.kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
	for path, data := range map[string][]byte{c.ca: ca.certPEM, c.servingCert: servingCert, c.servingKey: servingKey} {
		if err := writeFile(path, data); err != nil {
			return c, err
		}
	}
	if c.saKey, c.saPub, err = writeServiceAccountKeys(cp.dir); err != nil {
		return c, err
	}
	cp.admin = &rest.Config{
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.certPEM, CertData: c.adminCert, KeyData: c.adminKey},
		QPS:             200, Burst: 400, // tests are the only clients; client-go's 5/s would pace them
		Timeout: 30 * time.Second,
	}
	return c, nil
}

func mustKubeconfig(host string, caPEM, certPEM, keyPEM []byte) []byte {
	out, err := kubeconfig(host, caPEM, "kubetest-admin", certPEM, keyPEM)
	if err != nil {
		panic(fmt.Sprintf("kubetest: %v", err)) // clientcmd.Write of a config we built
	}
	return out
}

// run starts a component, which stop will stop.
func (cp *ControlPlane) run(bin, name string, args ...string) (*proc, error) {
	p, err := startProc(cp.dir, bin, name, args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// adminHTTP is an HTTP client with the admin certificate, for /readyz.
func (cp *ControlPlane) adminHTTP() *http.Client {
	cert, err := keyPair(cp.admin.CertData, cp.admin.KeyData)
	if err != nil {
		panic(fmt.Sprintf("kubetest: admin key pair: %v", err)) // we made it a moment ago
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: cp.ca.pool(), Certificates: []tls.Certificate{cert}},
		DisableKeepAlives: true,
	}}
}

// waitHTTP polls url until it answers 200 with want in the body, failing early when p
// exits and after readyTimeout with the tail of p's log.
func waitHTTP(p *proc, c *http.Client, url, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	last := errors.New("no answer yet")
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before %s answered: %v\n%s", p.name, url, last, p.failure())
		}
		if code, body, err := get(ctx, c, url); err != nil {
			last = err
		} else if code == http.StatusOK && strings.Contains(body, want) {
			return nil
		} else {
			last = fmt.Errorf("answered %d: %s", code, lastLines(body, 10))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (%s: %v)\n%s", p.name, readyTimeout, url, last, p.failure())
		case <-time.After(100 * time.Millisecond): // the polling interval
		}
	}
}

func get(ctx context.Context, c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), err
}

// stop kills every component, all at once, and waits for them; only the
// first call does anything.
func (cp *ControlPlane) stop() {
	cp.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range cp.procs {
			wg.Go(p.stop)
		}
		wg.Wait()
	})
}

// failure describes every component for a failure message: the tails of
// their logs, exited ones first.
func (cp *ControlPlane) failure() string {
	var exited, running []string
	for _, p := range cp.procs {
		if p.exited() {
			exited = append(exited, p.failure())
		} else {
			running = append(running, p.failure())
		}
	}
	return strings.Join(append(exited, running...), "\n")
}
