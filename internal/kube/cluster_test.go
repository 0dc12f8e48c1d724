package kube_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// pki is a test CA that signs the API servers' and the clients' certificates.
type pki struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte

	mu     sync.Mutex
	serial int64
	keys   []string // every client key PEM minted: none may appear in an error
}

func newPKI(tb testing.TB) *pki {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert: cert, key: key, serial: 1, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// sign makes a certificate of tmpl's kind and returns it with its key, in PEM.
func (p *pki) sign(tb testing.TB, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	tb.Helper()
	p.mu.Lock()
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	p.mu.Unlock()
	key := newKey(tb)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// client mints a client certificate ending at notAfter.
func (p *pki) client(tb testing.TB, notAfter time.Time) (certPEM, keyPEM []byte) {
	tb.Helper()
	certPEM, keyPEM = p.sign(tb, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "noderemover", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.mu.Lock()
	p.keys = append(p.keys, string(keyPEM))
	p.mu.Unlock()
	return certPEM, keyPEM
}

// noSecret fails the test when err's message holds any line of a client
// key minted so far.
func (p *pki) noSecret(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		for _, line := range strings.Split(k, "\n") {
			if len(line) > 8 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
				tb.Errorf("error %q holds a line of a client key", err)
			}
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			tb.Errorf("error %q holds a private key", err)
		}
	}
}

// apiServer is a TLS server that requires a client certificate of the
// test CA and answers GET /api/v1/nodes with one node named name.
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	agents []string
}

func (p *pki) apiServer(tb testing.TB, name string) *apiServer {
	tb.Helper()
	certPEM, keyPEM := p.sign(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kube-apiserver"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	s := &apiServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.agents = append(s.agents, r.UserAgent())
		s.mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/nodes" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": "NodeList", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "1"},
			"items": []any{map[string]any{"metadata": map[string]any{"name": name}}},
		})
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// userAgents are the User-Agent headers of the requests so far.
func (s *apiServer) userAgents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.agents...)
}

// kubeconfig is a kubeconfig as CCE's clustercert answers it: internal
// and external cluster entries (the external one skipping TLS
// verification), one user, contexts internal and external, external
// current. Entries whose URL is "" are left out.
func (p *pki) kubeconfig(internalURL, externalURL, current string, certPEM, keyPEM []byte) []byte {
	var clusters, contexts []any
	if internalURL != "" {
		clusters = append(clusters, map[string]any{"name": "internalCluster", "cluster": map[string]any{
			"server": internalURL, "certificate-authority-data": p.certPEM}})
		contexts = append(contexts, map[string]any{"name": "internal", "context": map[string]any{"cluster": "internalCluster", "user": "user"}})
	}
	if externalURL != "" {
		clusters = append(clusters, map[string]any{"name": "externalCluster", "cluster": map[string]any{
			"server": externalURL, "insecure-skip-tls-verify": true}})
		contexts = append(contexts, map[string]any{"name": "external", "context": map[string]any{"cluster": "externalCluster", "user": "user"}})
	}
	raw, _ := json.Marshal(map[string]any{
		"kind": "Config", "apiVersion": "v1", "preferences": map[string]any{},
		"clusters": clusters, "contexts": contexts, "current-context": current,
		"users": []any{map[string]any{"name": "user", "user": map[string]any{
			"client-certificate-data": certPEM, "client-key-data": keyPEM}}},
	})
	return raw
}
