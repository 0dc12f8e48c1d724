package kube

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// cached is one cluster's client and what says when it is stale.
type cached struct {
	client  kubernetes.Interface
	release func() // closes the idle connections of its own transport

	renewAt time.Time // cce: ask for a new kubeconfig from then on

	file os.FileInfo // dir: the file as last read
	sum  [32]byte    // dir: its content's SHA-256
}

// newCached makes a client for rc with the rate limit, user agent and
// timeout of every cluster client.
//
// A client with a client certificate gets a transport of its own rather
// than client-go's shared one: client-go caches transports by TLS material
// for the life of the process, and CCE's certificates change every hour,
// so the cache would grow without end.
func (a *Access) newCached(rc *rest.Config) (*cached, error) {
	rc.QPS, rc.Burst = a.o.QPS, a.o.Burst
	rc.UserAgent = "noderemover"
	rc.Timeout = requestTimeout
	release := func() {}
	if rc.ExecProvider == nil && rc.AuthProvider == nil && rc.Transport == nil && rc.WrapTransport == nil {
		tlsConfig, err := rest.TLSConfigFor(rc)
		if err != nil {
			return nil, fmt.Errorf("TLS configuration: %w", scrubbed(err))
		}
		proxy := http.ProxyFromEnvironment
		if rc.Proxy != nil {
			proxy = rc.Proxy
		}
		t := utilnet.SetTransportDefaults(&http.Transport{
			Proxy:               proxy,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 25,
			IdleConnTimeout:     90 * time.Second,
			DialContext:         rc.Dial,
		})
		rc.Transport = t
		rc.TLSClientConfig = rest.TLSClientConfig{}
		rc.Dial, rc.Proxy = nil, nil
		release = t.CloseIdleConnections
	}
	if a.o.Observe != nil {
		rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return observed{rt, a.o.Observe} })
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		release()
		return nil, fmt.Errorf("client: %w", scrubbed(err))
	}
	return &cached{client: cs, release: release}, nil
}

// certNotAfter is when the client certificate of rc ends; false when rc
// has no certificate data to read.
func certNotAfter(rc *rest.Config) (time.Time, bool) {
	block, _ := pem.Decode(rc.TLSClientConfig.CertData)
	if block == nil {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	return cert.NotAfter, true
}

// observed tells Observe of each request's answer.
type observed struct {
	next    http.RoundTripper
	observe func(code int)
}

func (o observed) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(r)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	o.observe(code)
	return resp, err
}
