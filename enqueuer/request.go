package enqueuer

import (
	"fmt"
	"strings"

	"github.com/noderemover/noderemover/removal"
)

// Request is what a producer asks for. It is also the JSON of one
// `enqueue --from-file` line and of the HTTP API's POST body.
type Request struct {
	// ID names the request; enqueueing the same id again is one removal.
	// Empty: a new id is made.
	ID        string `json:"request_id,omitempty"`
	ProjectID string `json:"project_id"`
	ClusterID string `json:"cluster_id"`
	// Region is the CCE region of the project and cluster; "" takes the
	// fleet's default (Options.DefaultRegion, CCE_REGION) at enqueue.
	Region string   `json:"region,omitempty"`
	Nodes  []string `json:"nodes"`
	// Exactly one of SSHKey (a key pair name) and Password.
	SSHKey string `json:"ssh_key,omitempty"`
	// Password is the node's new login password in plaintext. It is salted
	// and hashed by Prepare and goes nowhere else.
	Password string `json:"password,omitempty"`
	// Username goes with Password; default root.
	Username string `json:"username,omitempty"`
	// Drain says how the nodes are drained through Kubernetes before CCE
	// removes them; nil, or a member left out, takes the fleet's defaults
	// (Options.Drain).
	Drain *DrainOptions `json:"drain,omitempty"`
	// CallbackURL, when set, is POSTed the request's final event (or every
	// event, with CallbackEvents "all"), signed as Standard Webhooks says.
	// Its host must be in the fleet's WEBHOOK_ALLOWED_HOSTS
	// (Options.WebhookHosts).
	CallbackURL    string `json:"callback_url,omitempty"`
	CallbackEvents string `json:"callback_events,omitempty"`
}

// String leaves the password out, so a logged Request leaks nothing.
func (r Request) String() string {
	pw := ""
	if r.Password != "" {
		pw = " password=[redacted]"
	}
	return fmt.Sprintf("{request_id=%s project_id=%s cluster_id=%s region=%s nodes=%v ssh_key=%s username=%s%s}",
		r.ID, r.ProjectID, r.ClusterID, r.Region, r.Nodes, r.SSHKey, r.Username, pw)
}

// GoString keeps %#v from printing the password.
func (r Request) GoString() string { return "enqueuer.Request" + r.String() }

// Prepared is a request that Prepare checked and made ready to enqueue
// (EnqueuePrepared): its password is hashed already.
type Prepared = removal.Request

// Prepare validates r and turns it into a removal request: an id when none was
// given, node uids in canonical form, and the password replaced by its salted
// hash. The error names the first field that is wrong. Its drain is resolved
// against the fleet's defaults when it is enqueued.
func (r Request) Prepare() (Prepared, error) {
	req := removal.Request{
		ID:        r.ID,
		ProjectID: r.ProjectID,
		ClusterID: r.ClusterID,
		Region:    r.Region,
		Nodes:     append([]string(nil), r.Nodes...),
		DrainAsk:  r.Drain,
	}
	switch {
	case r.CallbackURL != "":
		req.Callback = &removal.Callback{URL: strings.TrimSpace(r.CallbackURL), Events: r.CallbackEvents}
	case r.CallbackEvents != "":
		return removal.Request{}, &removal.InvalidError{Field: "callback_events", Problem: "goes with a callback_url"}
	}
	if req.ID == "" {
		req.ID = newRequestID()
	}
	req.Normalize()
	// Check everything but the login first: hashing costs a few milliseconds.
	req.Login = removal.Login{SSHKey: "placeholder"}
	if err := req.Validate(); err != nil {
		return removal.Request{}, err
	}
	login, err := r.login()
	if err != nil {
		return removal.Request{}, err
	}
	req.Login = login
	if err := req.Validate(); err != nil {
		return removal.Request{}, err
	}
	return req, nil
}

func (r Request) login() (removal.Login, error) {
	switch {
	case r.SSHKey != "" && r.Password != "":
		return removal.Login{}, &removal.InvalidError{Field: "login", Problem: "give ssh_key or password, not both"}
	case r.SSHKey == "" && r.Password == "":
		return removal.Login{}, &removal.InvalidError{Field: "login", Problem: "give ssh_key or password"}
	case r.SSHKey != "":
		return removal.Login{SSHKey: r.SSHKey, Username: r.Username}, nil
	}
	user := r.Username
	if user == "" {
		user = removal.DefaultUsername
	}
	// Checked here, not only in HashPassword, so that the error names the field.
	if err := removal.CheckPassword(r.Password, user); err != nil {
		return removal.Login{}, &removal.InvalidError{Field: "password", Problem: err.Error()}
	}
	hash, err := removal.HashPassword(r.Password, user)
	if err != nil {
		return removal.Login{}, fmt.Errorf("hash password: %w", err)
	}
	return removal.Login{Username: user, PasswordHash: hash}, nil
}
