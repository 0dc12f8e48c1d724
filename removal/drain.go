package removal

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// A request may ask that its nodes be drained through Kubernetes before CCE
// removes them: cordoned, their Pods evicted as their PodDisruptionBudgets
// allow, until the drain is done or its timeout. What a producer asks
// (DrainAsk) is resolved against the fleet's defaults (DrainDefaults) into
// the settings the record keeps (Drain), so a worker with other defaults
// does not change a request in flight.

// Drain timeouts: what happens to a node whose drain did not end in time.
const (
	OnTimeoutFail   = "fail"   // give up: the node fails and is uncordoned
	OnTimeoutRemove = "remove" // go on: CCE removes it with its Pods still on it
)

// MaxDrainTimeout bounds a drain: a request holds its nodes that long.
const MaxDrainTimeout = 24 * time.Hour

// Duration is a time.Duration written in JSON as Go writes it ("10m0s") and
// read from any Go duration ("10m", "90s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"10m\" or \"90s\"", s)
	}
	*d = Duration(v)
	return nil
}

// DrainAsk is what a producer asked of the drain; every member is optional
// and a member left out takes the fleet's default.
type DrainAsk struct {
	Enabled            *bool     `json:"enabled,omitempty"`
	Timeout            *Duration `json:"timeout,omitempty"`
	OnTimeout          *string   `json:"on_timeout,omitempty"`
	GracePeriod        *Duration `json:"grace_period,omitempty"`
	DeleteEmptyDirData *bool     `json:"delete_emptydir_data,omitempty"`
	Force              *bool     `json:"force,omitempty"`
}

// Drain is a request's resolved drain settings, as its record keeps them
// and its status shows them.
type Drain struct {
	Timeout   Duration `json:"timeout"`
	OnTimeout string   `json:"on_timeout"`
	// GracePeriod overrides each Pod's own terminationGracePeriodSeconds.
	GracePeriod        *Duration `json:"grace_period,omitempty"`
	DeleteEmptyDirData bool      `json:"delete_emptydir_data"`
	Force              bool      `json:"force"`
}

// Clone returns a copy that shares nothing with d.
func (d *Drain) Clone() *Drain {
	if d == nil {
		return nil
	}
	c := *d
	if d.GracePeriod != nil {
		g := *d.GracePeriod
		c.GracePeriod = &g
	}
	return &c
}

func (d *Drain) equal(o *Drain) bool {
	if d == nil || o == nil {
		return d == o
	}
	return d.Timeout == o.Timeout && d.OnTimeout == o.OnTimeout && d.DeleteEmptyDirData == o.DeleteEmptyDirData &&
		d.Force == o.Force && (d.GracePeriod == nil) == (o.GracePeriod == nil) &&
		(d.GracePeriod == nil || *d.GracePeriod == *o.GracePeriod)
}

// key says what the settings are, for a request's fingerprint.
func (d *Drain) key() string {
	if d == nil {
		return ""
	}
	grace := "own"
	if d.GracePeriod != nil {
		grace = time.Duration(*d.GracePeriod).String()
	}
	return fmt.Sprintf("drain:%s:%s:%s:%t:%t", time.Duration(d.Timeout), d.OnTimeout, grace, d.DeleteEmptyDirData, d.Force)
}

// Kubernetes access modes (KUBE_ACCESS).
const (
	KubeAccessNone = "none"
	KubeAccessCCE  = "cce"
	KubeAccessDir  = "dir"
)

// DrainDefaults are the fleet's drain settings (DRAIN, DRAIN_TIMEOUT, ...)
// and whether it can reach Kubernetes at all (KUBE_ACCESS).
type DrainDefaults struct {
	// Access is KUBE_ACCESS; "" is none: no request may ask for a drain.
	Access string
	// Enabled drains requests that do not say (DRAIN); never with no access.
	Enabled            bool
	Timeout            time.Duration // default 10m
	OnTimeout          string        // default fail
	GracePeriod        *time.Duration
	DeleteEmptyDirData bool
	Force              bool
}

// DefaultDrainTimeout is DRAIN_TIMEOUT's default.
const DefaultDrainTimeout = 10 * time.Minute

// CanDrain reports whether the fleet reaches Kubernetes.
func (d DrainDefaults) CanDrain() bool { return d.Access != "" && d.Access != KubeAccessNone }

// Check says what is wrong with the defaults themselves, naming the
// environment variable.
func (d DrainDefaults) Check() error {
	if d.Enabled && !d.CanDrain() {
		return fmt.Errorf("DRAIN=on needs Kubernetes access, and KUBE_ACCESS is none: set KUBE_ACCESS to cce or dir, or DRAIN=off")
	}
	if d.Timeout < 0 || d.Timeout > MaxDrainTimeout {
		return fmt.Errorf("DRAIN_TIMEOUT %s is not between 0 (the default, 10m) and %s", d.Timeout, MaxDrainTimeout)
	}
	if d.OnTimeout != "" && d.OnTimeout != OnTimeoutFail && d.OnTimeout != OnTimeoutRemove {
		return fmt.Errorf("DRAIN_ON_TIMEOUT %q is not fail or remove", d.OnTimeout)
	}
	if d.GracePeriod != nil && *d.GracePeriod < 0 {
		return fmt.Errorf("DRAIN_GRACE_PERIOD %s is negative", *d.GracePeriod)
	}
	return nil
}

// Resolve turns what a producer asked (nil: nothing) into the request's
// drain settings, nil when its nodes are not drained. Asking for a drain
// from a fleet without Kubernetes access is an *InvalidError naming
// KUBE_ACCESS.
func (d DrainDefaults) Resolve(ask *DrainAsk) (*Drain, error) {
	if ask == nil {
		ask = &DrainAsk{}
	}
	enabled := d.Enabled && d.CanDrain()
	if ask.Enabled != nil {
		enabled = *ask.Enabled
	}
	if !enabled {
		return nil, nil
	}
	if !d.CanDrain() {
		return nil, invalid("drain.enabled", "a drain needs Kubernetes access and this fleet has none (KUBE_ACCESS=none): "+
			"set KUBE_ACCESS to cce or dir on the workers and here, or ask with the drain off")
	}
	out := &Drain{Timeout: Duration(d.Timeout), OnTimeout: d.OnTimeout,
		DeleteEmptyDirData: d.DeleteEmptyDirData, Force: d.Force}
	if out.Timeout == 0 {
		out.Timeout = Duration(DefaultDrainTimeout)
	}
	if out.OnTimeout == "" {
		out.OnTimeout = OnTimeoutFail
	}
	if d.GracePeriod != nil {
		g := Duration(*d.GracePeriod)
		out.GracePeriod = &g
	}
	if ask.Timeout != nil {
		out.Timeout = *ask.Timeout
	}
	if ask.OnTimeout != nil {
		out.OnTimeout = *ask.OnTimeout
	}
	if ask.GracePeriod != nil {
		g := *ask.GracePeriod
		out.GracePeriod = &g
	}
	if ask.DeleteEmptyDirData != nil {
		out.DeleteEmptyDirData = *ask.DeleteEmptyDirData
	}
	if ask.Force != nil {
		out.Force = *ask.Force
	}
	return out, out.Validate()
}

// Validate checks resolved settings and names the member that is wrong.
func (d *Drain) Validate() error {
	if d == nil {
		return nil
	}
	if t := time.Duration(d.Timeout); t <= 0 || t > MaxDrainTimeout {
		return invalid("drain.timeout", "%s is not above 0 and at most %s", t, MaxDrainTimeout)
	}
	if d.OnTimeout != OnTimeoutFail && d.OnTimeout != OnTimeoutRemove {
		return invalid("drain.on_timeout", "%q is not %s or %s", d.OnTimeout, OnTimeoutFail, OnTimeoutRemove)
	}
	if d.GracePeriod != nil && (*d.GracePeriod < 0 || *d.GracePeriod > d.Timeout) {
		return invalid("drain.grace_period", "%s is not between 0 and the drain's timeout (%s)",
			time.Duration(*d.GracePeriod), time.Duration(d.Timeout))
	}
	return nil
}

// NodeDrain is how one node's drain stands, in the status: while it drains,
// and after it (a node CCE removed with Pods still on it says so here).
type NodeDrain struct {
	PodsLeft  int      `json:"pods_left"`
	BlockedBy []string `json:"blocked_by"`
	// TimedOut: the drain did not end in time; with on_timeout remove the
	// node went to CCE with PodsLeft Pods still on it.
	TimedOut bool `json:"timed_out,omitempty"`
}

func (n *NodeDrain) clone() *NodeDrain {
	if n == nil {
		return nil
	}
	c := *n
	c.BlockedBy = append([]string{}, n.BlockedBy...)
	return &c
}

func (n *NodeDrain) equal(o *NodeDrain) bool {
	if n == nil || o == nil {
		return n == o
	}
	return n.PodsLeft == o.PodsLeft && n.TimedOut == o.TimedOut && strings.Join(n.BlockedBy, "\n") == strings.Join(o.BlockedBy, "\n")
}
