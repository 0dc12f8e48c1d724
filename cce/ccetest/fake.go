// Package ccetest provides a stateful fake of the CCE node-removal API for
// tests, benchmarks, the demo and the standalone fake-cce command, in the
// spirit of net/http/httptest.
//
// The fake keeps the documented contract strictly: it authenticates (token or
// SDK-HMAC-SHA256), validates every RemoveNode and clustercert body as CCE
// does, answers clustercert with the kubeconfig a test's issuer mints, locks a
// cluster while its removal job runs, moves jobs and nodes through their
// phases on its clock (lazily, on each request: no background goroutines),
// answers 404 for a removed node, and rate-limits like the API gateway. Faults
// can be injected one call at a time or at random, and every accepted removal
// is recorded so tests can assert that no node was removed twice.
package ccetest

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds a request body, as CCE does.
const maxBody = 1 << 20

// Options configures a Fake.
type Options struct {
	// JobDuration is the time from an accepted removal to its job's final
	// phase; 0 makes jobs final at once. A job is Initializing for the first
	// tenth of it (at most 1s), then Running.
	JobDuration time.Duration
	// Token is the accepted X-Auth-Token ("" disables token auth).
	Token string
	// IAM, when set, makes the tokens it issued accepted as X-Auth-Token
	// for the project they are scoped to, until they expire (then 401).
	IAM *IAM
	// AK and SK are the accepted access key pair for SDK-HMAC-SHA256 ("" AK
	// disables signing). With neither Token nor AK every request is accepted.
	AK, SK string
	// AutoNodes makes any well-formed node uid in any cluster exist, Active,
	// on first sight (for standalone use). Otherwise only nodes added with
	// AddNodes exist, and unknown clusters answer 404.
	AutoNodes bool
	// AutoClusterNodes is how many nodes a cluster that AutoNodes makes on
	// first sight has besides those named (Active, ListNodes shows them):
	// a percentage of the cluster means something; 0 means 100.
	AutoClusterNodes int
	// WriteRate is how many RemoveNodes calls per second the whole fake
	// allows before answering 429 APIG.0308 with Retry-After, counted as the
	// gateway does: at most ⌊rate⌋ calls in any second (one call in any
	// 1/rate seconds below 1/s); 0 is unlimited.
	WriteRate float64
	// ReadRate is the same for ShowJob, ShowNode, ShowCluster, ListNodes
	// and ClusterCert together
	// (ClusterCert is a POST, but IAM counts it as cce:cluster:get).
	ReadRate float64
	// Now is the clock of every lifecycle, rate-limit and X-Sdk-Date
	// decision; nil is time.Now. (Fault delays and latency are real time.)
	Now func() time.Time
	// Logf, when set, gets one line per request. Auth headers are never logged.
	Logf func(format string, args ...any)
}

// Fake is the fake CCE API; it is an http.Handler, safe for concurrent use.
type Fake struct {
	opts     Options
	now      func() time.Time
	stopping chan struct{} // closed by Server.Close: pending delays end
	stopOnce sync.Once

	mu       sync.Mutex
	clusters map[clusterKey]*cluster
	jobs     map[string]*job
	active   []*job          // jobs not final yet, oldest first
	failing  map[string]bool // node uids whose removal fails
	removals []Removal
	faults   map[Op][]Fault
	random   *randomFaults
	latency  time.Duration
	calls    map[Op]int        // OpAny counts every call
	answers  map[answerKey]int // OpAny counts every answer
	writes   window
	reads    window
}

type answerKey struct {
	op     Op
	status int
}

// New returns a Fake configured by opts.
func New(opts Options) *Fake {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Fake{
		opts:     opts,
		now:      now,
		stopping: make(chan struct{}),
		clusters: map[clusterKey]*cluster{},
		jobs:     map[string]*job{},
		failing:  map[string]bool{},
		faults:   map[Op][]Fault{},
		calls:    map[Op]int{},
		answers:  map[answerKey]int{},
		writes:   newWindow(opts.WriteRate),
		reads:    newWindow(opts.ReadRate),
	}
}

// answer is a response not yet written.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// route is what a request asks for: an Op with its path parameters, or the
// 404/405 answer for a path that is no API.
type route struct {
	op                          Op
	project, cluster, node, job string
	invalid                     *answer
}

// ServeHTTP answers one request: count it, apply a pending fault and the
// latency, then authenticate, rate-limit and handle it.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newUUID()
	rt := parseRoute(r)
	f.countCall(rt.op)
	fault := f.nextFault(rt.op)
	if !f.wait(r, f.currentLatency()+fault.Delay) {
		f.logf("ccetest: %s %s %s: client gave up (request id %s)", rt.op, r.Method, r.URL.Path, requestID)
		return
	}
	var a answer
	if fault.Status != 0 && !fault.LoseAnswer {
		a = fault.answer()
	} else {
		a = f.handle(r, rt)
	}
	if fault.LoseAnswer {
		f.countAnswer(rt.op, 0)
		f.logf("ccetest: %s %s %s -> %d, answer lost (request id %s)", rt.op, r.Method, r.URL.Path, a.status, requestID)
		cutConnection(w)
		return
	}
	f.countAnswer(rt.op, a.status)
	f.logf("ccetest: %s %s %s -> %d (request id %s)", rt.op, r.Method, r.URL.Path, a.status, requestID)
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("X-Request-Id", requestID)
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// handle answers a request for real.
func (f *Fake) handle(r *http.Request, rt route) answer {
	if rt.invalid != nil {
		return *rt.invalid
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return cceError(http.StatusBadRequest, "CCE.01400001", "cannot read the request body: %v", err)
	}
	if len(body) > maxBody {
		return cceError(http.StatusBadRequest, "CCE.01400001", "the request body exceeds %d bytes", maxBody)
	}
	now := f.now()
	if reason := f.authenticate(r, body, now); reason != "" {
		return cceError(http.StatusUnauthorized, "CCE.01401001", "authorization failed: %s", reason)
	}

	f.mu.Lock()
	f.advance(now)
	if a, limited := f.throttle(rt.op, now); limited {
		f.mu.Unlock()
		return a
	}
	if rt.op == OpClusterCert {
		// issue is the test's code: it runs without the fake's lock.
		issue, notAfter, a := f.certRequest(r, rt, body, now)
		f.mu.Unlock()
		if issue == nil {
			return a
		}
		return issueCert(issue, notAfter)
	}
	defer f.mu.Unlock()
	switch rt.op {
	case OpRemoveNodes:
		return f.removeNodes(r, rt, body, now)
	case OpShowJob:
		return f.showJob(rt, now)
	case OpShowCluster:
		return f.showCluster(rt)
	case OpListNodes:
		return f.listNodes(rt, r.URL.Query())
	default:
		return f.showNode(rt, r.URL.Query())
	}
}

// parseRoute matches the CCE routes on the escaped path, so that an
// id holding an escaped "/" stays one segment.
func parseRoute(r *http.Request) route {
	var s []string
	for seg := range strings.SplitSeq(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/") {
		raw, err := url.PathUnescape(seg)
		if err != nil || raw == "" {
			return route{invalid: noAPI(r)}
		}
		s = append(s, raw)
	}
	if len(s) < 6 || s[0] != "api" || s[1] != "v3" || s[2] != "projects" {
		return route{invalid: noAPI(r)}
	}
	var rt route
	method := http.MethodGet
	switch {
	case len(s) == 6 && s[4] == "jobs":
		rt = route{op: OpShowJob, project: s[3], job: s[5]}
	case len(s) == 9 && s[4] == "clusters" && s[6] == "nodes" && s[7] == "operation" && s[8] == "remove":
		rt = route{op: OpRemoveNodes, project: s[3], cluster: s[5]}
		method = http.MethodPut
	case len(s) == 7 && s[4] == "clusters" && s[6] == "clustercert":
		rt = route{op: OpClusterCert, project: s[3], cluster: s[5]}
		method = http.MethodPost
	case len(s) == 6 && s[4] == "clusters":
		rt = route{op: OpShowCluster, project: s[3], cluster: s[5]}
	case len(s) == 7 && s[4] == "clusters" && s[6] == "nodes":
		rt = route{op: OpListNodes, project: s[3], cluster: s[5]}
	case len(s) == 8 && s[4] == "clusters" && s[6] == "nodes":
		rt = route{op: OpShowNode, project: s[3], cluster: s[5], node: s[7]}
	default:
		return route{invalid: noAPI(r)}
	}
	if r.Method != method {
		a := gatewayError(http.StatusMethodNotAllowed, "APIG.0101",
			fmt.Sprintf("method %s is not allowed here, use %s", r.Method, method))
		a.header.Set("Allow", method)
		return route{invalid: &a}
	}
	return rt
}

// noAPI is the gateway's answer for a path that is no API.
func noAPI(r *http.Request) *answer {
	a := gatewayError(http.StatusNotFound, "APIG.0101",
		fmt.Sprintf("the API %s %s does not exist", r.Method, r.URL.Path))
	return &a
}

func (f *Fake) logf(format string, args ...any) {
	if f.opts.Logf != nil {
		f.opts.Logf(format, args...)
	}
}

// cutConnection closes the connection without answering.
func cutConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	_ = conn.Close()
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// stop ends pending delays; the Server calls it on Close.
func (f *Fake) stop() { f.stopOnce.Do(func() { close(f.stopping) }) }
