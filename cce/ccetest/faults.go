package ccetest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Op names a CCE call, for fault injection and counting.
type Op string

// The calls. OpAny stands for every call.
const (
	OpRemoveNodes Op = "RemoveNodes"
	OpShowJob     Op = "ShowJob"
	OpShowNode    Op = "ShowNode"
	OpClusterCert Op = "ClusterCert"
	OpShowCluster Op = "ShowCluster"
	OpListNodes   Op = "ListNodes"
	OpAny         Op = ""
)

// Fault changes how the fake answers one call.
type Fault struct {
	// Status, when set, is answered instead of handling the call (500, 502,
	// 503, 429, 403, ...).
	Status int
	// Code is the error code in the body; the default depends on Status
	// (500 → CCE.01500001, 429 → CCE.02429001, 404 → CCE.01404001, ...).
	Code string
	// Message is the error message; the default names the fault.
	Message string
	// RetryAfter is the raw Retry-After header to send ("3", "0.5", a date).
	RetryAfter string
	// NonJSON sends a text/html body, as a load balancer does.
	NonJSON bool
	// Gateway uses the API gateway's spelling {"error_code","error_msg"}.
	Gateway bool
	// Delay makes the answer wait; the wait ends if the client gives up.
	Delay time.Duration
	// LoseAnswer handles the call for real (a removal is accepted and its
	// job starts), then closes the connection without answering. Go's
	// transport may resend a GET on its own after a lost answer on a reused
	// connection; it never resends a PUT.
	LoseAnswer bool
}

// defaultCodes are the codes CCE uses for a status.
var defaultCodes = map[int]string{
	400: "CCE.01400001", 401: "CCE.01401001", 403: "CCE.01403001", 404: "CCE.01404001",
	409: "CCE.01409001", 429: "CCE.02429001",
}

// answer is the error answer of a fault with a Status.
func (fault Fault) answer() answer {
	status := fault.Status
	code := fault.Code
	if code == "" {
		code = defaultCodes[status]
		if status >= 500 {
			code = "CCE.01500001"
		}
	}
	msg := fault.Message
	if msg == "" {
		msg = fmt.Sprintf("ccetest injected fault: %d %s", status, http.StatusText(status))
	}
	var a answer
	switch {
	case fault.NonJSON:
		title := fmt.Sprintf("%d %s", status, http.StatusText(status))
		a = answer{status: status, header: http.Header{"Content-Type": {"text/html"}}, body: fmt.Appendf(nil,
			"<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n"+
				"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", title, title)}
	case fault.Gateway:
		a = gatewayError(status, code, msg)
	default:
		a = cceError(status, code, "%s", msg)
	}
	if fault.RetryAfter != "" {
		a.header.Set("Retry-After", fault.RetryAfter)
	}
	return a
}

// Inject gives the next n calls of op this fault; OpAny means any call.
// Faults queue in order; a call takes its op's first pending fault, else the
// first pending OpAny fault, else a random fault (SetRandomFaults).
func (f *Fake) Inject(op Op, n int, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[op] = append(f.faults[op], fault)
	}
}

// RandomFaults are faults drawn at random, for chaos tests. Probabilities
// are per call; given the Seed the draws repeat.
type RandomFaults struct {
	Seed int64
	// Per RemoveNodes call: a 500, 502 or 503; a 429; a lost answer.
	Error5xx, Throttle, LoseAnswer float64
	// Per ShowJob, ShowNode or ClusterCert call: a 5xx; a 429.
	ReadError5xx, ReadThrottle float64
	// RetryAfter is sent with random 429s when set.
	RetryAfter string
}

type randomFaults struct {
	RandomFaults
	rng *rand.Rand
}

// SetRandomFaults turns random faults on (the zero RandomFaults turns them
// off) and restarts the draws from rf.Seed.
func (f *Fake) SetRandomFaults(rf RandomFaults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.random = &randomFaults{RandomFaults: rf, rng: rand.New(rand.NewPCG(uint64(rf.Seed), 0x6363657465737421))}
}

// SetLatency makes every answer wait d first.
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

func (f *Fake) currentLatency() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

// nextFault takes the fault for one call of op; the zero Fault is none.
func (f *Fake) nextFault(op Op) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range []Op{op, OpAny} {
		if pending := f.faults[q]; len(pending) > 0 && (q == OpAny || op != OpAny) {
			f.faults[q] = pending[1:]
			return pending[0]
		}
	}
	if f.random == nil || op == OpAny {
		return Fault{}
	}
	rf := f.random
	x := rf.rng.Float64()
	error5xx, throttle, lose := rf.ReadError5xx, rf.ReadThrottle, 0.0
	if op == OpRemoveNodes {
		error5xx, throttle, lose = rf.Error5xx, rf.Throttle, rf.LoseAnswer
	}
	switch {
	case x < error5xx:
		return Fault{Status: []int{500, 502, 503}[rf.rng.IntN(3)]}
	case x < error5xx+throttle:
		return Fault{Status: http.StatusTooManyRequests, RetryAfter: rf.RetryAfter}
	case x < error5xx+throttle+lose:
		return Fault{LoseAnswer: true}
	}
	return Fault{}
}

// wait waits d, and reports false if the client gave up or the server is
// closing first.
func (f *Fake) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-f.stopping:
	}
	return false
}

// countCall and countAnswer keep the numbers Calls and Answers report.
func (f *Fake) countCall(op Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[OpAny]++
	if op != OpAny {
		f.calls[op]++
	}
}

func (f *Fake) countAnswer(op Op, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[answerKey{OpAny, status}]++
	if op != OpAny {
		f.answers[answerKey{op, status}]++
	}
}

// Calls returns how many calls of op were received (OpAny: all, including
// paths that are no API), faulted ones included.
func (f *Fake) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Answers returns how many answers with status were sent for op (OpAny:
// all). Answers lost on purpose (Fault.LoseAnswer) count as status 0.
func (f *Fake) Answers(op Op, status int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answers[answerKey{op, status}]
}
