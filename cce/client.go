// Package cce owns the REST client for the node-removal API of Huawei Cloud
// CCE (Cloud Container Engine): RemoveNodes, ShowJob and ShowNode, and
// ClusterCert for a kubeconfig that reaches a cluster's Kubernetes API; its
// authentication (an IAM token, or SDK-HMAC-SHA256 signing with an access key
// pair); and its typed errors with the class that decides what a caller does
// next (retry, wait, give up) and whether a failed write may have been applied;
// and the CCE regions and their endpoints (regions.go).
//
// It depends on the standard library only.
package cce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one call when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Config configures a Client.
type Config struct {
	// Endpoint is the base URL, http or https, without query; required.
	// A trailing slash is tolerated.
	Endpoint string
	// Auth adds credentials to every request; required.
	Auth Authenticator
	// Timeout bounds every call, on top of the caller's context; 0 means 30s.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means an http.Client with Timeout
	// that does not follow redirects (CCE never redirects, and a redirect
	// would carry X-Auth-Token to another host).
	HTTPClient *http.Client
	// UserAgent, when set, is sent as User-Agent.
	UserAgent string
	// Observe, when set, is told of every call that reached the HTTP layer:
	// the operation ("RemoveNodes", "ShowJob", "ShowNode", "ClusterCert"), the answer's
	// status (0 when none came) and how long it took. For metrics.
	Observe func(op string, status int, d time.Duration)
}

// Client calls the CCE API. It is safe for concurrent use.
type Client struct {
	base      string // endpoint without trailing slash
	auth      Authenticator
	timeout   time.Duration
	http      *http.Client
	userAgent string
	observer  func(op string, status int, d time.Duration)
}

// New validates cfg and returns a Client. Errors name the bad field.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("cce: Config.Endpoint is required")
	}
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("cce: Config.Endpoint: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("cce: Config.Endpoint %q: scheme must be http or https", cfg.Endpoint)
	case u.Host == "":
		return nil, fmt.Errorf("cce: Config.Endpoint %q: no host", cfg.Endpoint)
	case u.User != nil:
		return nil, fmt.Errorf("cce: Config.Endpoint: must not carry user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("cce: Config.Endpoint %q: must have no query or fragment", cfg.Endpoint)
	}
	if err := checkAuth(cfg.Auth); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("cce: Config.Timeout %v is negative", cfg.Timeout)
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return nil, errors.New("cce: Config.UserAgent must be a single line")
	}
	c := &Client{
		base:      strings.TrimRight(cfg.Endpoint, "/"),
		auth:      cfg.Auth,
		timeout:   cfg.Timeout,
		http:      cfg.HTTPClient,
		userAgent: cfg.UserAgent,
		observer:  cfg.Observe,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		// A worker talks to one host from many goroutines: keep enough idle
		// connections that they are reused, not dialled for every call.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxIdleConnsPerHost
		c.http = &http.Client{
			Timeout:       c.timeout,
			Transport:     t,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c, nil
}

// maxIdleConnsPerHost is above any sensible WORKER_CONCURRENCY share of one
// CCE endpoint (net/http's default is 2).
const maxIdleConnsPerHost = 64

// checkAuth rejects a missing Authenticator and the package's own ones
// without their credentials.
func checkAuth(auth Authenticator) error {
	switch a := auth.(type) {
	case nil:
		return errors.New("cce: Config.Auth is required")
	case TokenAuth:
		if a.Token == "" {
			return errors.New("cce: Config.Auth: TokenAuth.Token is empty")
		}
	case *TokenAuth:
		if a == nil || a.Token == "" {
			return errors.New("cce: Config.Auth: TokenAuth.Token is empty")
		}
	case *Signer:
		if a == nil || a.AK == "" || a.SK == "" {
			return errors.New("cce: Config.Auth: Signer needs AK and SK")
		}
	}
	return nil
}

// RemoveNodes asks CCE to remove nodes (1 to MaxNodesPerRemoval uids, no
// repeats) from a cluster and returns the id of the job that does it. login
// must set exactly one of SSHKey and UserPassword. Invalid arguments are
// reported, wrapping ErrInvalidInput, before anything is sent.
func (c *Client) RemoveNodes(ctx context.Context, projectID, clusterID string, login Login, nodeUIDs []string) (jobID string, err error) {
	const op = "RemoveNodes"
	if err := validateRemoval(projectID, clusterID, login, nodeUIDs); err != nil {
		return "", fmt.Errorf("cce %s: %w", op, err)
	}
	task := RemoveNodesTask{
		APIVersion: "v3",
		Kind:       "RemoveNodesTask",
		Spec:       RemoveNodesSpec{Login: login, Nodes: make([]NodeItem, len(nodeUIDs))},
	}
	for i, uid := range nodeUIDs {
		task.Spec.Nodes[i] = NodeItem{UID: uid}
	}
	body, err := json.Marshal(task)
	if err != nil {
		return "", fmt.Errorf("cce %s: encode body: %w", op, err)
	}
	var answer RemoveNodesTask
	path := apiPath("projects", projectID, "clusters", clusterID, "nodes", "operation", "remove")
	if err := c.call(ctx, op, http.MethodPut, path, body, loginSecrets(login), &answer); err != nil {
		return "", err
	}
	if answer.Status == nil || answer.Status.JobID == "" {
		return "", fmt.Errorf("cce %s: %w: no status.jobID in the 200 answer", op, ErrBadAnswer)
	}
	return answer.Status.JobID, nil
}

// ShowJob returns a job and its sub-jobs.
func (c *Client) ShowJob(ctx context.Context, projectID, jobID string) (*Job, error) {
	const op = "ShowJob"
	if err := nonEmpty("projectID", projectID, "jobID", jobID); err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	var job Job
	if err := c.call(ctx, op, http.MethodGet, apiPath("projects", projectID, "jobs", jobID), nil, nil, &job); err != nil {
		return nil, err
	}
	if job.Status.Phase == "" {
		return nil, fmt.Errorf("cce %s: %w: job %s has no status.phase", op, ErrBadAnswer, jobID)
	}
	return &job, nil
}

// ShowNode returns a node. Once a removal has succeeded CCE answers 404
// (IsNotFound). It asks with errorStatus, so that a node in Error shows as
// Error: without it CCE reports Error as Deleting.
func (c *Client) ShowNode(ctx context.Context, projectID, clusterID, nodeUID string) (*Node, error) {
	const op = "ShowNode"
	if err := nonEmpty("projectID", projectID, "clusterID", clusterID, "nodeUID", nodeUID); err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	var node Node
	path := apiPath("projects", projectID, "clusters", clusterID, "nodes", nodeUID) + "?errorStatus=true"
	if err := c.call(ctx, op, http.MethodGet, path, nil, nil, &node); err != nil {
		return nil, err
	}
	if node.Metadata.UID == "" {
		return nil, fmt.Errorf("cce %s: %w: node %s has no metadata.uid", op, ErrBadAnswer, nodeUID)
	}
	return &node, nil
}

// apiPath joins "/api/v3" and the segments, escaping each one.
func apiPath(segments ...string) string {
	var b strings.Builder
	b.WriteString("/api/v3")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// nonEmpty takes name, value pairs and reports the first empty value.
func nonEmpty(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("%w: %s is empty", ErrInvalidInput, pairs[i])
		}
	}
	return nil
}

// validateRemoval checks what CCE would reject anyway, before sending.
func validateRemoval(projectID, clusterID string, login Login, nodeUIDs []string) error {
	if err := nonEmpty("projectID", projectID, "clusterID", clusterID); err != nil {
		return err
	}
	if n := len(nodeUIDs); n == 0 || n > MaxNodesPerRemoval {
		return fmt.Errorf("%w: %d node uids, want 1 to %d", ErrInvalidInput, n, MaxNodesPerRemoval)
	}
	seen := make(map[string]bool, len(nodeUIDs))
	for i, uid := range nodeUIDs {
		if uid == "" {
			return fmt.Errorf("%w: node uid #%d is empty", ErrInvalidInput, i)
		}
		if seen[uid] {
			return fmt.Errorf("%w: node uid %q is repeated", ErrInvalidInput, uid)
		}
		seen[uid] = true
	}
	switch {
	case login.SSHKey != "" && login.UserPassword != nil:
		return fmt.Errorf("%w: login sets both sshKey and userPassword", ErrInvalidInput)
	case login.SSHKey == "" && login.UserPassword == nil:
		return fmt.Errorf("%w: login sets neither sshKey nor userPassword", ErrInvalidInput)
	case login.UserPassword != nil && login.UserPassword.Password == "":
		return fmt.Errorf("%w: login.userPassword.password is empty", ErrInvalidInput)
	}
	return nil
}
