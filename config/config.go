// Package config turns the environment (and flags that override it) into one
// validated Config. Every variable is parsed and checked at start; a value
// that cannot be used is an error naming the variable, never a silent default.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Config is everything the subcommands read from the environment. Each field
// names its variable and default.
type Config struct {
	// Redis is REDIS_URL (default redis://127.0.0.1:6379/0).
	Redis RedisTarget

	// CCEEndpoint is CCE_ENDPOINT, else https://cce.{CCE_REGION}.myhuaweicloud.com.
	CCEEndpoint string
	// CCERegion is CCE_REGION (e.g. cn-north-4): the region of a request
	// that names none, reached at CCEEndpoint.
	CCERegion string
	// CCEEndpoints is CCE_ENDPOINTS: the endpoint of each region named
	// there (region=url,...); CCE_REGION's, when named, is CCEEndpoint too.
	CCEEndpoints map[string]string
	// CCEAuthToken is CCE_AUTH_TOKEN, an IAM token sent as X-Auth-Token.
	CCEAuthToken Secret
	// AccessKey is HUAWEICLOUD_SDK_AK, for AK/SK signing.
	AccessKey string
	// SecretKey is HUAWEICLOUD_SDK_SK.
	SecretKey Secret
	// SecurityToken is HUAWEICLOUD_SDK_SECURITY_TOKEN (temporary credentials only).
	SecurityToken Secret
	// CCETimeout is CCE_TIMEOUT (default 30s): the limit on one CCE call.
	CCETimeout time.Duration

	// WorkerConcurrency is WORKER_CONCURRENCY (default 10): tasks run at once per worker.
	WorkerConcurrency int
	// RetryBackoffMin is RETRY_BACKOFF_MIN (default 2s).
	RetryBackoffMin time.Duration
	// RetryBackoffMax is RETRY_BACKOFF_MAX (default 2m).
	RetryBackoffMax time.Duration
	// SubmitMaxAttempts is SUBMIT_MAX_ATTEMPTS (default 8): RemoveNode calls per request before it fails.
	SubmitMaxAttempts int
	// BatchWindow is BATCH_WINDOW (default 2s; 0 turns merging off): how long
	// a cluster's oldest waiting request waits for others to share its call.
	BatchWindow time.Duration
	// WriteRate is CCE_WRITE_RATE (default 10/m; off: no limit): RemoveNode calls per second of each region and project, all workers together.
	WriteRate Rate
	// ReadRate is CCE_READ_RATE (default 20/s; off: no limit): CCE reads per second of each region and project, all workers together.
	ReadRate Rate
	// PollIntervalMin is POLL_INTERVAL_MIN (default 10s).
	PollIntervalMin time.Duration
	// PollIntervalMax is POLL_INTERVAL_MAX (default 20s).
	PollIntervalMax time.Duration
	// PollFirstDelay is POLL_FIRST_DELAY (default 3 × POLL_INTERVAL_MIN): the wait before a job's first poll.
	PollFirstDelay time.Duration
	// PollTimeout is POLL_TIMEOUT (default 30m): a job not final by then fails its requests.
	PollTimeout time.Duration
	// RecordTTL is RECORD_TTL (default 168h): how long request records are kept.
	RecordTTL time.Duration

	// WatchClusters is WATCH_CLUSTERS: project_id/cluster_id,... (the controller).
	WatchClusters string
	// WatchSSHKey is WATCH_SSH_KEY: the key pair of a Node that names none.
	WatchSSHKey string
	// WatchResync is WATCH_RESYNC (default 10m): the controller's informer resync.
	WatchResync time.Duration

	// KubeAccess is KUBE_ACCESS (default none): cce, dir or none.
	KubeAccess string
	// KubeEndpoint is KUBE_ENDPOINT (default internal): internal or external.
	KubeEndpoint string
	// KubeconfigDir is KUBECONFIG_DIR: one kubeconfig per cluster id.
	KubeconfigDir string
	// KubeCertTTL is KUBE_CERT_TTL (default 1h): the life asked of a CCE kubeconfig.
	KubeCertTTL time.Duration
	// KubeQPS is KUBE_QPS (default 20): client-go's rate per cluster.
	KubeQPS int
	// Drain is DRAIN: on, off, or "" (on when KUBE_ACCESS is not none).
	Drain string
	// DrainTimeout is DRAIN_TIMEOUT (default 10m).
	DrainTimeout time.Duration
	// DrainOnTimeout is DRAIN_ON_TIMEOUT (default fail): fail or remove.
	DrainOnTimeout string
	// DrainGracePeriod is DRAIN_GRACE_PERIOD; nil: each Pod's own.
	DrainGracePeriod *time.Duration
	// DrainDeleteEmptyDirData is DRAIN_DELETE_EMPTYDIR_DATA (default false).
	DrainDeleteEmptyDirData bool
	// DrainForce is DRAIN_FORCE (default false): evict Pods with no controller.
	DrainForce bool
	// DrainInterval is DRAIN_INTERVAL (default 5s).
	DrainInterval time.Duration
	// ClusterMaxDisrupting is CLUSTER_MAX_DISRUPTING (default "10%"): a
	// count ("3") or a percentage of a cluster's nodes ("10%").
	ClusterMaxDisrupting string
	// ClusterMinNodes is CLUSTER_MIN_NODES (default 1).
	ClusterMinNodes int

	// CCEAuthTokenFile is CCE_AUTH_TOKEN_FILE: the token, from a file read
	// again when it changes.
	CCEAuthTokenFile string
	// IAMUsername, IAMPassword (or IAMPasswordFile) and IAMDomain are an IAM
	// user the worker obtains tokens for itself; IAMEndpoint is IAM's URL.
	IAMUsername, IAMPasswordFile, IAMDomain, IAMEndpoint string
	IAMPassword                                          Secret

	// AccessKeyFile, SecretKeyFile and SecurityTokenFile are
	// HUAWEICLOUD_SDK_AK_FILE, _SK_FILE and _SECURITY_TOKEN_FILE.
	AccessKeyFile, SecretKeyFile, SecurityTokenFile string
	// IdPID and IDTokenFile are HUAWEICLOUD_SDK_IDP_ID and
	// HUAWEICLOUD_SDK_ID_TOKEN_FILE: workload identity.
	IdPID, IDTokenFile string
	// MetadataEndpoint is ECS_METADATA_ENDPOINT ("" is the default address).
	MetadataEndpoint string

	// CredentialsGrace is CREDENTIALS_GRACE (default 1h).
	CredentialsGrace time.Duration

	// EventsMaxLen is EVENTS_MAX_LEN (default 100000).
	EventsMaxLen int64
	// WebhookAllowedHosts is WEBHOOK_ALLOWED_HOSTS as given (parsed by
	// removal.ParseAllowedHosts); "" turns callbacks off.
	WebhookAllowedHosts string
	// WebhookSecret is WEBHOOK_SECRET, in the whsec_ form.
	WebhookSecret Secret
	// WebhookMaxAge is WEBHOOK_MAX_AGE (default 24h).
	WebhookMaxAge time.Duration

	// HTTPAddr is HTTP_ADDR (default :9090): the worker's /metrics, /healthz and /readyz.
	HTTPAddr string
	// HTTPReadTimeout is HTTP_READ_TIMEOUT (default 30s): how long every
	// server (worker, API, dashboard) waits for a request's headers and body.
	HTTPReadTimeout time.Duration
	// ShutdownTimeout is SHUTDOWN_TIMEOUT (default 25s): how long running handlers get after SIGTERM.
	ShutdownTimeout time.Duration

	// APIAddr is API_ADDR (default :8080): the HTTP API for producers.
	APIAddr string
	// APITokens is API_TOKENS: comma-separated bearer tokens the API accepts.
	APITokens []Secret

	// DashboardAddr is DASHBOARD_ADDR (default 127.0.0.1:8081).
	DashboardAddr string
	// DashboardUser is DASHBOARD_USER, for basic auth.
	DashboardUser string
	// DashboardPassword is DASHBOARD_PASSWORD, for basic auth.
	DashboardPassword Secret
	// DashboardReadOnly is DASHBOARD_READ_ONLY (default false).
	DashboardReadOnly bool

	// LogLevel is LOG_LEVEL (default info): trace, debug, info, warn or error.
	LogLevel string
	// LogFormat is LOG_FORMAT (default json): json or console.
	LogFormat string
}

// Getenv looks a variable up; ok is false when it is not set.
type Getenv func(name string) (value string, ok bool)

// Overlay returns a Getenv that answers from values first (flags), then from base.
func Overlay(base Getenv, values map[string]string) Getenv {
	return func(name string) (string, bool) {
		if v, ok := values[name]; ok {
			return v, true
		}
		return base(name)
	}
}

// Load reads every known variable through getenv, applies defaults to those
// not set and validates the result. All problems are reported together.
func Load(getenv Getenv) (Config, error) {
	var c Config
	var errs []error
	for _, v := range vars {
		val, ok := getenv(v.Name)
		val = strings.TrimSpace(val)
		if !ok || val == "" {
			if v.Default == "" {
				continue
			}
			val = v.Default
		}
		if err := v.set(&c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", v.Name, redactIf(v, val), err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, c.check()...)
	}
	return c, errors.Join(errs...)
}

// check validates relations between fields once each one parsed.
func (c *Config) check() []error {
	var errs []error
	if u, ok := c.CCEEndpoints[c.CCERegion]; ok && c.CCERegion != "" {
		if c.CCEEndpoint != RegionEndpoint(c.CCERegion) && c.CCEEndpoint != u {
			errs = append(errs, fmt.Errorf("CCE_ENDPOINTS gives CCE_REGION %s the endpoint %s and CCE_ENDPOINT says %s: give it once", c.CCERegion, u, c.CCEEndpoint))
		}
		c.CCEEndpoint = u
	}
	if c.RetryBackoffMin > c.RetryBackoffMax {
		errs = append(errs, fmt.Errorf("RETRY_BACKOFF_MIN (%v) is above RETRY_BACKOFF_MAX (%v)", c.RetryBackoffMin, c.RetryBackoffMax))
	}
	if c.PollIntervalMin > c.PollIntervalMax {
		errs = append(errs, fmt.Errorf("POLL_INTERVAL_MIN (%v) is above POLL_INTERVAL_MAX (%v)", c.PollIntervalMin, c.PollIntervalMax))
	}
	if c.PollFirstDelay == 0 {
		c.PollFirstDelay = 3 * c.PollIntervalMin
	}
	if c.Drain == "on" && c.KubeAccess == "none" {
		errs = append(errs, errors.New("DRAIN=on needs Kubernetes access, and KUBE_ACCESS is none: set KUBE_ACCESS to cce or dir, or DRAIN=off"))
	}
	if c.KubeAccess == "dir" && c.KubeconfigDir == "" {
		errs = append(errs, errors.New("KUBE_ACCESS=dir needs KUBECONFIG_DIR: the directory of one kubeconfig per cluster"))
	}
	if strings.TrimSpace(c.WebhookAllowedHosts) != "" && c.WebhookSecret == "" {
		errs = append(errs, errors.New("WEBHOOK_ALLOWED_HOSTS needs WEBHOOK_SECRET: callbacks are signed (whsec_ and the base64 of 24 to 64 random bytes)"))
	}
	if c.PollTimeout < c.PollIntervalMax {
		errs = append(errs, fmt.Errorf("POLL_TIMEOUT (%v) is below POLL_INTERVAL_MAX (%v)", c.PollTimeout, c.PollIntervalMax))
	}
	return errs
}

// DrainOn reports whether requests that do not say are drained: DRAIN, by
// default on when KUBE_ACCESS is not none.
func (c *Config) DrainOn() bool {
	if c.Drain == "" {
		return c.KubeAccess != "none" && c.KubeAccess != ""
	}
	return c.Drain == "on"
}

// The ways to authenticate at CCE, as CredentialSource names them.
const (
	SourceToken     = "CCE_AUTH_TOKEN"
	SourceTokenFile = "CCE_AUTH_TOKEN_FILE"
	SourceKeys      = "HUAWEICLOUD_SDK_AK"
	SourceKeyFiles  = "HUAWEICLOUD_SDK_AK_FILE"
	SourceIAMUser   = "IAM_USERNAME"
	SourceWorkload  = "HUAWEICLOUD_SDK_IDP_ID"
	SourceMetadata  = "ECS_METADATA_ENDPOINT"
)

// CredentialSources are the ways to authenticate the configuration names,
// in the order of the chain; CheckCCE allows at most one.
func (c *Config) CredentialSources() []string {
	var out []string
	add := func(on bool, name string) {
		if on {
			out = append(out, name)
		}
	}
	add(c.CCEAuthToken != "", SourceToken)
	add(c.CCEAuthTokenFile != "", SourceTokenFile)
	add(c.AccessKey != "" || c.SecretKey != "", SourceKeys)
	add(c.AccessKeyFile != "" || c.SecretKeyFile != "" || c.SecurityTokenFile != "", SourceKeyFiles)
	add(c.IAMUsername != "" || c.IAMPassword != "" || c.IAMPasswordFile != "" || c.IAMDomain != "", SourceIAMUser)
	add(c.IdPID != "" || c.IDTokenFile != "", SourceWorkload)
	add(c.MetadataEndpoint != "", SourceMetadata)
	return out
}

// CredentialSource is the one way to authenticate in force: the one set,
// or, with none set, the ECS metadata service (as the official SDK's chain
// ends). CheckCCE has made sure there is at most one.
func (c *Config) CredentialSource() string {
	if s := c.CredentialSources(); len(s) > 0 {
		return s[0]
	}
	return SourceMetadata
}

// CheckCCE reports whether the settings a CCE client needs are present: an
// endpoint (CCE_ENDPOINT or CCE_REGION) and at most one way to
// authenticate, complete.
func (c *Config) CheckCCE() error {
	var errs []error
	if c.CCEEndpoint == "" {
		errs = append(errs, errors.New("CCE_ENDPOINT or CCE_REGION must be set"))
	}
	sources := c.CredentialSources()
	if len(sources) > 1 {
		return errors.Join(append(errs, fmt.Errorf("set one way to authenticate at CCE, not several: %s are all set", strings.Join(sources, ", ")))...)
	}
	needIAM := func(what string) {
		if c.IAMURL() == "" {
			errs = append(errs, errors.New(what+" needs IAM_ENDPOINT, or CCE_REGION to find IAM at https://iam.{region}.myhuaweicloud.com"))
		}
	}
	switch c.CredentialSource() {
	case SourceKeys:
		switch {
		case c.AccessKey == "":
			errs = append(errs, errors.New("HUAWEICLOUD_SDK_AK must be set with HUAWEICLOUD_SDK_SK"))
		case c.SecretKey == "":
			errs = append(errs, errors.New("HUAWEICLOUD_SDK_SK must be set with HUAWEICLOUD_SDK_AK"))
		}
	case SourceKeyFiles:
		if c.AccessKeyFile == "" || c.SecretKeyFile == "" {
			errs = append(errs, errors.New("HUAWEICLOUD_SDK_AK_FILE and HUAWEICLOUD_SDK_SK_FILE go together (HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE with them)"))
		}
	case SourceIAMUser:
		switch {
		case c.IAMUsername == "" || c.IAMDomain == "":
			errs = append(errs, errors.New("IAM_USERNAME and IAM_DOMAIN go together"))
		case (c.IAMPassword == "") == (c.IAMPasswordFile == ""):
			errs = append(errs, errors.New("IAM_USERNAME needs exactly one of IAM_PASSWORD and IAM_PASSWORD_FILE"))
		default:
			needIAM("IAM_USERNAME")
		}
	case SourceWorkload:
		if c.IdPID == "" || c.IDTokenFile == "" {
			errs = append(errs, errors.New("HUAWEICLOUD_SDK_IDP_ID and HUAWEICLOUD_SDK_ID_TOKEN_FILE go together (workload identity)"))
		} else {
			needIAM("workload identity")
		}
	case SourceMetadata:
		if c.MetadataEndpoint != "" {
			if u, err := url.Parse(c.MetadataEndpoint); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
				errs = append(errs, fmt.Errorf("ECS_METADATA_ENDPOINT %q is not an http(s) URL", c.MetadataEndpoint))
			}
		}
	}
	if c.SecurityToken != "" && c.CredentialSource() != SourceKeys {
		errs = append(errs, errors.New("HUAWEICLOUD_SDK_SECURITY_TOKEN needs HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"))
	}
	return errors.Join(errs...)
}

// CheckAPI reports whether the API can start: it needs at least one token.
func (c *Config) CheckAPI() error {
	if len(c.APITokens) == 0 {
		return errors.New("API_TOKENS must hold at least one bearer token (comma-separated)")
	}
	return nil
}

// IAMURL is IAM's base URL: IAM_ENDPOINT, else the region's.
func (c *Config) IAMURL() string {
	if c.IAMEndpoint != "" {
		return c.IAMEndpoint
	}
	if c.CCERegion == "" {
		return ""
	}
	return strings.Replace(RegionEndpoint(c.CCERegion), "https://cce.", "https://iam.", 1)
}

// CheckDashboard reports whether the dashboard may serve on DASHBOARD_ADDR:
// with DASHBOARD_USER and DASHBOARD_PASSWORD anywhere, without them only on a
// loopback address, where nobody else can reach it.
func (c *Config) CheckDashboard() error {
	user, password := c.DashboardUser != "", c.DashboardPassword != ""
	switch {
	case user != password:
		return errors.New("set DASHBOARD_USER and DASHBOARD_PASSWORD together")
	case user:
		return nil
	case !isLoopback(c.DashboardAddr):
		return fmt.Errorf("DASHBOARD_ADDR %q is not a loopback address and DASHBOARD_USER/DASHBOARD_PASSWORD are not set: "+
			"the dashboard can delete and retry tasks, so it serves without authentication only on 127.0.0.1, ::1 or localhost", c.DashboardAddr)
	}
	return nil
}

// Known reports whether name is a variable this package reads.
func Known(name string) bool {
	for _, v := range vars {
		if v.Name == name {
			return true
		}
	}
	return false
}

// Variables lists every variable with its default and meaning, sorted by name.
func Variables() []Var {
	out := make([]Var, len(vars))
	copy(out, vars)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func redactIf(v Var, val string) string {
	switch {
	case v.Secret:
		return Secret(val).String()
	case v.Name == "REDIS_URL":
		return redactURL(val)
	}
	return val
}

// redactURL hides the password of a URL, and the whole value when it does
// not parse (it may hold one anyway).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable, redacted]"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	q := u.Query()
	if q.Has("sentinel_password") {
		q.Set("sentinel_password", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Secret is a value that must not be printed: its String, GoString and JSON
// forms are redacted. Reveal returns the value itself.
type Secret string

// Reveal returns the secret value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalJSON keeps a marshalled Config from carrying the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
