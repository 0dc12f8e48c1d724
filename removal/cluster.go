package removal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // named zones work in images without a zone database

	"github.com/robfig/cron/v3"
)

// A cluster's guardrail settings: its disruption budget, its minimum and
// its maintenance windows. Each is the fleet's default (CLUSTER_MAX_DISRUPTING,
// CLUSTER_MIN_NODES; no window) unless the cluster sets its own, at run time
// (noderemover cluster set).

// Budget is how many nodes of a cluster may be draining or removing at
// once: a count, or a percentage of the cluster's nodes.
type Budget struct {
	N       int
	Percent bool
}

// ParseBudget reads "3" or "10%"; 0 and 0% let no node go.
func ParseBudget(s string) (Budget, error) {
	const field = "max_disrupting"
	v, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0 || v != strings.TrimSpace(v) || strings.HasPrefix(v, "+"):
		return Budget{}, invalid(field, "%q is neither a count of nodes (3) nor a percentage of the cluster's nodes (10%%)", s)
	case pct && n > 100:
		return Budget{}, invalid(field, "%q: a percentage is 0%% to 100%%", s)
	case !pct && n > 100000:
		return Budget{}, invalid(field, "%q: at most 100000 nodes", s)
	}
	return Budget{N: n, Percent: pct}, nil
}

func (b Budget) String() string {
	if b.Percent {
		return strconv.Itoa(b.N) + "%"
	}
	return strconv.Itoa(b.N)
}

// MarshalText writes the budget as ParseBudget reads it.
func (b Budget) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads the budget as ParseBudget does.
func (b *Budget) UnmarshalText(p []byte) error {
	v, err := ParseBudget(string(p))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Of is the count for a cluster of total nodes: a percentage rounds up,
// and allows at least one node unless it is 0%.
func (b Budget) Of(total int) int {
	if !b.Percent {
		return b.N
	}
	if b.N == 0 {
		return 0
	}
	return max(1, (total*b.N+99)/100)
}

// Window is a maintenance window: it opens at each activation of a cron
// expression (five fields, or a descriptor such as @daily) in a named time
// zone, and stays open for Duration.
type Window struct {
	Cron     string   `json:"cron"`
	Duration Duration `json:"duration"`
	TimeZone string   `json:"time_zone"`
}

// maxWindow bounds a window's duration: a week (a longer one is always
// open, which no window says better).
const maxWindow = 7 * 24 * time.Hour

// ParseWindow reads the command line's form "CRON DURATION [TZ]": five
// cron fields (or one @descriptor), a Go duration, and a time zone (UTC
// when left out), e.g. "0 2 * * 1-5 4h Europe/Berlin".
func ParseWindow(s string) (Window, error) {
	f := strings.Fields(s)
	n := 5
	if len(f) > 0 && strings.HasPrefix(f[0], "@") {
		n = 1
	}
	if len(f) < n+1 || len(f) > n+2 {
		return Window{}, invalid("window", "%q is not \"CRON DURATION TZ\" (five cron fields or an @descriptor, a duration such as 4h, and a time zone such as Europe/Berlin)", s)
	}
	d, err := time.ParseDuration(f[n])
	if err != nil {
		return Window{}, invalid("window", "%q: %q is not a duration (such as 4h or 90m)", s, f[n])
	}
	w := Window{Cron: strings.Join(f[:n], " "), Duration: Duration(d), TimeZone: "UTC"}
	if len(f) == n+2 {
		w.TimeZone = f[n+1]
	}
	if err := w.validate("window"); err != nil {
		return Window{}, err
	}
	return w, nil
}

// String is the window in ParseWindow's form.
func (w Window) String() string {
	return w.Cron + " " + time.Duration(w.Duration).String() + " " + w.TimeZone
}

// Validate checks the window.
func (w Window) Validate() error { return w.validate("window") }

func (w Window) validate(field string) error {
	if _, _, err := w.schedule(); err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) {
			inv.Field = field + inv.Field
		}
		return err
	}
	if d := time.Duration(w.Duration); d <= 0 || d > maxWindow {
		return invalid(field+".duration", "%s: a window is open for more than 0 and at most 168h", d)
	}
	return nil
}

// schedule parses the cron expression in the window's zone.
func (w Window) schedule() (cron.Schedule, *time.Location, error) {
	if w.TimeZone == "" {
		return nil, nil, invalid(".time_zone", "is empty: name a time zone such as UTC or Europe/Berlin")
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil || w.TimeZone == "Local" {
		return nil, nil, invalid(".time_zone", "%q is not a time zone name (such as UTC or Europe/Berlin)", w.TimeZone)
	}
	if strings.Contains(w.Cron, "TZ=") {
		return nil, nil, invalid(".cron", "%q: give the zone in time_zone, not in the expression", w.Cron)
	}
	s, err := cron.ParseStandard(w.Cron)
	if err != nil {
		return nil, nil, invalid(".cron", "%q is not a cron expression (minute hour day-of-month month day-of-week, or @daily...): %v", w.Cron, err)
	}
	return s, loc, nil
}

// Open says whether the window is open at now, and until when (when it
// is), or when it opens next (when it is not; zero if never).
func (w Window) Open(now time.Time) (bool, time.Time) {
	s, loc, err := w.schedule()
	if err != nil {
		return false, time.Time{}
	}
	d := time.Duration(w.Duration)
	t := now.In(loc)
	// The last activation at or before now: the first one after now-d.
	if start := s.Next(t.Add(-d - time.Nanosecond)); !start.After(t) && start.Add(d).After(t) {
		return true, start.Add(d)
	}
	return false, s.Next(t)
}

// WindowsOpen says whether any of ws is open at now (no window: always),
// and when not, when the soonest opens.
func WindowsOpen(ws []Window, now time.Time) (bool, time.Time) {
	if len(ws) == 0 {
		return true, time.Time{}
	}
	var next time.Time
	for _, w := range ws {
		open, t := w.Open(now)
		if open {
			return true, time.Time{}
		}
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return false, next
}

// maxWindows bounds a cluster's windows.
const maxWindows = 20

// ClusterSettings are what one cluster sets for itself; what it leaves nil
// (or, for windows, empty) is the fleet's (no window: always open).
type ClusterSettings struct {
	MaxDisrupting *Budget  `json:"max_disrupting,omitempty"`
	MinNodes      *int     `json:"min_nodes,omitempty"`
	Windows       []Window `json:"windows,omitempty"`
}

// Validate checks the settings, naming the field that is wrong.
func (s ClusterSettings) Validate() error {
	if s.MinNodes != nil && (*s.MinNodes < 0 || *s.MinNodes > 100000) {
		return invalid("min_nodes", "%d: a count of nodes, 0 or more", *s.MinNodes)
	}
	if len(s.Windows) > maxWindows {
		return invalid("windows", "%d windows: at most %d", len(s.Windows), maxWindows)
	}
	for i, w := range s.Windows {
		if err := w.validate(fmt.Sprintf("windows[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Empty reports whether the settings set nothing.
func (s ClusterSettings) Empty() bool {
	return s.MaxDisrupting == nil && s.MinNodes == nil && len(s.Windows) == 0
}

// Guard is what is in force for a cluster.
type Guard struct {
	MaxDisrupting Budget   `json:"max_disrupting"`
	MinNodes      int      `json:"min_nodes"`
	Windows       []Window `json:"windows"`
}

// Resolve is what is in force: s over the fleet's defaults.
func (s ClusterSettings) Resolve(fleet Guard) Guard {
	g := fleet
	if s.MaxDisrupting != nil {
		g.MaxDisrupting = *s.MaxDisrupting
	}
	if s.MinNodes != nil {
		g.MinNodes = *s.MinNodes
	}
	if len(s.Windows) > 0 {
		g.Windows = s.Windows
	}
	if g.Windows == nil {
		g.Windows = []Window{}
	}
	return g
}

// DecodeClusterSettings reads settings from JSON strictly: an unknown
// field, a wrong type or trailing data is an error naming the field.
func DecodeClusterSettings(raw []byte) (ClusterSettings, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s ClusterSettings
	if err := dec.Decode(&s); err != nil {
		return ClusterSettings{}, settingsError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ClusterSettings{}, invalid("", "the settings are followed by more data; send one JSON object")
	}
	if err := s.Validate(); err != nil {
		return ClusterSettings{}, err
	}
	return s, nil
}

// settingsError names the field of a JSON decoding error.
func settingsError(err error) error {
	var inv *InvalidError
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &inv):
		return inv
	case errors.As(err, &typ):
		return invalid(SafeFieldName(typ.Field), "is a %s, not a %s", typ.Value, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("", "the settings are not a JSON object: %v", err)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid(SafeFieldName(strings.Trim(name, `"`)), "is not a setting (max_disrupting, min_nodes, windows)")
	}
	return invalid("", "%v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "list"
	case "struct", "ptr":
		return "object"
	}
	return k
}
