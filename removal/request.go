// Package removal is the domain of noderemover, with no storage in it: a
// removal request and its validation, the record that follows it from
// queued to a final state with an outcome per node, the batches that carry
// requests to CCE, how a batch is formed, and the lifecycle table that alone
// decides how a batch and its requests move on (lifecycle.go). The Redis
// store that keeps all of it is internal/store.
package removal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MaxNodes is the most nodes one request (and one RemoveNode call) may hold.
const MaxNodes = 200

// Request is what a producer asked: remove these nodes from this cluster,
// reinstalling them with this login.
type Request struct {
	ID        string `json:"request_id"`
	ProjectID string `json:"project_id"`
	ClusterID string `json:"cluster_id"`
	// Region is the CCE region of the project and cluster, "" for the one
	// endpoint a fleet without a default region has.
	Region string   `json:"region,omitempty"`
	Nodes  []string `json:"nodes"`
	Login  Login    `json:"login"`
	// DrainAsk is what the producer asked of the drain; Drain is what it
	// resolved to against the fleet's defaults (nil: no drain).
	DrainAsk *DrainAsk `json:"drain_ask,omitempty"`
	Drain    *Drain    `json:"drain,omitempty"`
	// Callback is where the request's events are POSTed; nil for none.
	Callback *Callback `json:"callback,omitempty"`
}

// Login is how CCE logs in to a node after it left the cluster: an SSH key
// pair name, or a user and the salted hash of a password (never the password).
type Login struct {
	SSHKey       string `json:"ssh_key,omitempty"`
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// Key names the login without revealing it, so requests with the same login
// can be told apart from others (and merged into one call).
func (l Login) Key() string {
	if l.SSHKey != "" {
		return "ssh:" + l.SSHKey
	}
	sum := sha256.Sum256([]byte(l.Username + "\x00" + l.PasswordHash))
	return "password:" + l.Username + ":" + hex.EncodeToString(sum[:8])
}

// InvalidError says which field of a request is wrong and why.
type InvalidError struct {
	Field   string // as spelled in JSON: "nodes[2]", "project_id"
	Problem string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// ErrInvalid matches every *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid request")

// Is makes errors.Is(err, ErrInvalid) true for an *InvalidError.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// SafeFieldName keeps a field name that came from the caller (a JSON
// member, a query parameter) fit to be sent back in an InvalidError: a name
// of any length and content can arrive.
func SafeFieldName(key string) string {
	const limit = 64
	if len(key) > limit {
		key = key[:limit] + "…"
	}
	return strings.ToValidUTF8(key, "\uFFFD")
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	requestIDRegexp = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	uidPattern      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	sshKeyPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	usernamePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// ValidRequestID reports whether id can name a request.
func ValidRequestID(id string) error {
	if id == "" {
		return invalid("request_id", "is empty")
	}
	if !requestIDRegexp.MatchString(id) {
		return invalid("request_id", "%q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// ValidNodeUID reports whether uid is a well-formed CCE node id (a UUID).
func ValidNodeUID(uid string) bool { return uidPattern.MatchString(uid) }

// Normalize puts a request in its canonical form: node uids in lower case.
// It keeps the order the producer gave.
func (r *Request) Normalize() {
	r.ID = strings.TrimSpace(r.ID)
	r.ProjectID = strings.TrimSpace(r.ProjectID)
	r.ClusterID = strings.TrimSpace(r.ClusterID)
	r.Region = strings.TrimSpace(r.Region)
	for i, n := range r.Nodes {
		r.Nodes[i] = strings.ToLower(strings.TrimSpace(n))
	}
}

// Validate checks a normalized request and names the first field that is wrong.
func (r *Request) Validate() error {
	if err := ValidRequestID(r.ID); err != nil {
		return err
	}
	if err := validID("project_id", r.ProjectID); err != nil {
		return err
	}
	if err := validID("cluster_id", r.ClusterID); err != nil {
		return err
	}
	if err := ValidRegion(r.Region); err != nil {
		return err
	}
	if err := ValidateNodes(r.Nodes); err != nil {
		return err
	}
	if err := r.Drain.Validate(); err != nil {
		return err
	}
	if err := r.Callback.Validate(); err != nil {
		return err
	}
	return r.Login.Validate()
}

// regionPattern is the form of a CCE region's name, as package cce has it.
var regionPattern = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

// ValidRegion reports whether region has the form of a region's name
// ("cn-north-4"); "" is the fleet's one endpoint. Which regions a fleet
// serves is the enqueuer's to check.
func ValidRegion(region string) error {
	if region != "" && (len(region) > 64 || !regionPattern.MatchString(region)) {
		return invalid("region", "%q is not a region name like cn-north-4", region)
	}
	return nil
}

// ValidClusterID reports whether id can name a cluster.
func ValidClusterID(id string) error { return validID("cluster_id", id) }

func validID(field, v string) error {
	if v == "" {
		return invalid(field, "is missing")
	}
	if !idPattern.MatchString(v) {
		return invalid(field, "%q must be 1-64 letters, digits, '_' or '-'", v)
	}
	return nil
}

// ValidateNodes checks the node list: 1 to MaxNodes well-formed, unique uids.
func ValidateNodes(nodes []string) error {
	if len(nodes) == 0 {
		return invalid("nodes", "no node given; a request removes 1 to %d nodes", MaxNodes)
	}
	if len(nodes) > MaxNodes {
		return invalid("nodes", "%d nodes given; a request removes at most %d", len(nodes), MaxNodes)
	}
	seen := make(map[string]int, len(nodes))
	for i, n := range nodes {
		field := fmt.Sprintf("nodes[%d]", i)
		if !ValidNodeUID(n) {
			return invalid(field, "%q is not a node uid (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", n)
		}
		key := strings.ToLower(n)
		if j, dup := seen[key]; dup {
			return invalid(field, "%s is given twice (also nodes[%d])", n, j)
		}
		seen[key] = i
	}
	return nil
}

// Validate checks that exactly one login is set and that it is well formed.
func (l Login) Validate() error {
	hasKey, hasPassword := l.SSHKey != "", l.PasswordHash != ""
	switch {
	case hasKey && hasPassword:
		return invalid("login", "give an ssh key or a password, not both")
	case !hasKey && !hasPassword:
		if l.Username != "" {
			return invalid("password", "is missing for username %q", l.Username)
		}
		return invalid("login", "give an ssh key or a password")
	case hasKey:
		if l.Username != "" {
			return invalid("username", "goes with a password, not an ssh key")
		}
		if !sshKeyPattern.MatchString(l.SSHKey) {
			return invalid("ssh_key", "%q must be 1-64 letters, digits, '.', '_' or '-'", l.SSHKey)
		}
	default:
		if !usernamePattern.MatchString(l.Username) {
			return invalid("username", "%q is not a Linux user name", l.Username)
		}
		if err := CheckPasswordHash(l.PasswordHash); err != nil {
			return invalid("password", "%v", err)
		}
	}
	return nil
}

// Fingerprint identifies what a request asks for, apart from its id and the
// password's salt, so enqueueing the same request twice can be recognised.
func (r *Request) Fingerprint() string {
	nodes := append([]string(nil), r.Nodes...)
	sort.Strings(nodes)
	login := "ssh:" + r.Login.SSHKey
	if r.Login.SSHKey == "" {
		login = "password:" + r.Login.Username
	}
	parts := []string{r.ProjectID, r.ClusterID, login, strings.Join(nodes, ",")}
	if r.Drain != nil { // requests without a drain keep the fingerprint they had before drains
		parts = append(parts, r.Drain.key())
	}
	if r.Callback != nil { // nor do requests without a callback
		parts = append(parts, "callback "+r.Callback.key())
	}
	if r.Region != "" { // nor do requests of no region
		parts = append(parts, "region "+r.Region)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16])
}
