package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable: its name, default and meaning.
type Var struct {
	Name    string
	Default string // "" when unset means "not set" (or derived, as Help says)
	Help    string
	Secret  bool // never printed, not even in errors

	set func(c *Config, v string) error
}

var vars = []Var{
	{Name: "REDIS_URL", Default: "redis://127.0.0.1:6379/0",
		Help: "Redis: `redis://`, `rediss://` (TLS), `redis-sentinel://host:port[,host:port]?master=NAME`, `redis-cluster://host:port[,host:port]`",
		set:  func(c *Config, v string) (err error) { c.Redis, err = ParseRedisURL(v); return err }},
	{Name: "CCE_ENDPOINT", Help: "CCE base URL of `CCE_REGION`; default `https://cce.{CCE_REGION}.myhuaweicloud.com` (`https://cce.eu-west-101.myhuaweicloud.eu` for `eu-west-101`)",
		set: func(c *Config, v string) error { return setEndpoint(c, v) }},
	{Name: "CCE_REGION", Help: "Huawei Cloud region, e.g. `cn-north-4`: the default region, given to every request that names none when it is enqueued",
		set: func(c *Config, v string) error { return setRegion(c, v) }},
	{Name: "CCE_ENDPOINTS", Help: "more regions' CCE endpoints, `region=url,...` (e.g. `eu-west-101=https://cce.eu-west-101.myhuaweicloud.eu`): a region named here is served at its url, and is served even when it is not one of the SDK's regions; any other region a request names is reached at `https://cce.{region}.myhuaweicloud.com` (`.eu` for `eu-west-101`)",
		set: func(c *Config, v string) (err error) { c.CCEEndpoints, err = endpoints(v); return err }},
	{Name: "CCE_AUTH_TOKEN", Secret: true, Help: "IAM token sent as `X-Auth-Token` (or use AK/SK)",
		set: func(c *Config, v string) error { c.CCEAuthToken = Secret(v); return nil }},
	{Name: "HUAWEICLOUD_SDK_AK", Help: "access key for AK/SK request signing",
		set: func(c *Config, v string) error { c.AccessKey = v; return nil }},
	{Name: "HUAWEICLOUD_SDK_SK", Secret: true, Help: "secret key for AK/SK request signing",
		set: func(c *Config, v string) error { c.SecretKey = Secret(v); return nil }},
	{Name: "HUAWEICLOUD_SDK_SECURITY_TOKEN", Secret: true, Help: "security token of temporary AK/SK credentials",
		set: func(c *Config, v string) error { c.SecurityToken = Secret(v); return nil }},
	{Name: "CCE_AUTH_TOKEN_FILE", Help: "a file holding the IAM token (a mounted Secret something else renews), read again when it changes",
		set: func(c *Config, v string) error { c.CCEAuthTokenFile = v; return nil }},
	{Name: "IAM_USERNAME", Help: "an IAM user: the worker obtains project-scoped IAM tokens itself (password method) and renews them before they expire; with IAM_DOMAIN and IAM_PASSWORD or IAM_PASSWORD_FILE",
		set: func(c *Config, v string) error { c.IAMUsername = v; return nil }},
	{Name: "IAM_PASSWORD", Secret: true, Help: "that user's password (or IAM_PASSWORD_FILE)",
		set: func(c *Config, v string) error { c.IAMPassword = Secret(v); return nil }},
	{Name: "IAM_PASSWORD_FILE", Help: "a file holding that password, read again at each renewal",
		set: func(c *Config, v string) error { c.IAMPasswordFile = v; return nil }},
	{Name: "IAM_DOMAIN", Help: "the account (domain) name the IAM user belongs to",
		set: func(c *Config, v string) error { c.IAMDomain = v; return nil }},
	{Name: "IAM_ENDPOINT", Help: "IAM base URL; default `https://iam.{CCE_REGION}.myhuaweicloud.com`",
		set: func(c *Config, v string) error { c.IAMEndpoint = strings.TrimRight(v, "/"); return nil }},
	{Name: "HUAWEICLOUD_SDK_AK_FILE", Help: "a file holding the access key (a mounted Secret), read again when it changes; with HUAWEICLOUD_SDK_SK_FILE",
		set: func(c *Config, v string) error { c.AccessKeyFile = v; return nil }},
	{Name: "HUAWEICLOUD_SDK_SK_FILE", Help: "a file holding the secret key, read again when it changes",
		set: func(c *Config, v string) error { c.SecretKeyFile = v; return nil }},
	{Name: "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE", Help: "a file holding the security token of a temporary key in those files",
		set: func(c *Config, v string) error { c.SecurityTokenFile = v; return nil }},
	{Name: "HUAWEICLOUD_SDK_IDP_ID", Help: "workload identity: the identity provider IAM trusts for the cluster's service-account tokens; with HUAWEICLOUD_SDK_ID_TOKEN_FILE",
		set: func(c *Config, v string) error { c.IdPID = v; return nil }},
	{Name: "HUAWEICLOUD_SDK_ID_TOKEN_FILE", Help: "workload identity: the Pod's projected service-account token, exchanged at IAM for temporary AK/SK renewed before they expire",
		set: func(c *Config, v string) error { c.IDTokenFile = v; return nil }},
	{Name: "ECS_METADATA_ENDPOINT", Help: "the ECS metadata service, whose agency keys are used when no other credentials are set; default `http://169.254.169.254`",
		set: func(c *Config, v string) error { c.MetadataEndpoint = strings.TrimRight(v, "/"); return nil }},
	{Name: "CREDENTIALS_GRACE", Default: "1h", Help: "how long CCE may refuse the worker's own credentials (401, a 403 forbidding the caller, no token from IAM) while requests wait, before they fail saying so",
		set: func(c *Config, v string) (err error) {
			c.CredentialsGrace, err = duration(v, time.Second, 7*24*time.Hour)
			return err
		}},
	{Name: "CCE_TIMEOUT", Default: "30s", Help: "limit on one CCE API call",
		set: func(c *Config, v string) (err error) {
			c.CCETimeout, err = duration(v, time.Second, time.Hour)
			return err
		}},
	{Name: "WORKER_CONCURRENCY", Default: "10", Help: "tasks one worker runs at once",
		set: func(c *Config, v string) (err error) { c.WorkerConcurrency, err = integer(v, 1, 1000); return err }},
	{Name: "RETRY_BACKOFF_MIN", Default: "2s", Help: "shortest wait before a failed RemoveNode call is tried again",
		set: func(c *Config, v string) (err error) {
			c.RetryBackoffMin, err = duration(v, time.Millisecond, 24*time.Hour)
			return err
		}},
	{Name: "RETRY_BACKOFF_MAX", Default: "2m", Help: "longest such wait (exponential backoff with full jitter in between)",
		set: func(c *Config, v string) (err error) {
			c.RetryBackoffMax, err = duration(v, time.Millisecond, 24*time.Hour)
			return err
		}},
	{Name: "SUBMIT_MAX_ATTEMPTS", Default: "8", Help: "RemoveNode calls for one request before it ends `failed` (throttled answers do not count)",
		set: func(c *Config, v string) (err error) { c.SubmitMaxAttempts, err = integer(v, 1, 20); return err }},
	{Name: "BATCH_WINDOW", Default: "2s", Help: "how long a cluster's oldest waiting request waits for others to share its RemoveNode call (up to 200 nodes); `0` turns merging off",
		set: func(c *Config, v string) (err error) {
			if v == "0" {
				c.BatchWindow = 0
				return nil
			}
			c.BatchWindow, err = duration(v, 0, time.Hour)
			return err
		}},
	{Name: "CCE_WRITE_RATE", Default: "10/m", Help: "RemoveNode calls allowed per region and project, all workers together: `N/s`, `N/m` or `off` (no limit, for an endpoint that limits on its own)",
		set: func(c *Config, v string) (err error) { c.WriteRate, err = ParseRate(v); return err }},
	{Name: "CCE_READ_RATE", Default: "20/s", Help: "CCE reads (ShowJob, ShowNode, ShowCluster, ListNodes) allowed per region and project, all workers together: `N/s`, `N/m` or `off` (no limit, for an endpoint that limits on its own)",
		set: func(c *Config, v string) (err error) { c.ReadRate, err = ParseRate(v); return err }},
	{Name: "POLL_INTERVAL_MIN", Default: "10s", Help: "first interval between polls of a CCE job",
		set: func(c *Config, v string) (err error) {
			c.PollIntervalMin, err = duration(v, 10*time.Millisecond, time.Hour)
			return err
		}},
	{Name: "POLL_INTERVAL_MAX", Default: "20s", Help: "the interval grows up to this",
		set: func(c *Config, v string) (err error) {
			c.PollIntervalMax, err = duration(v, 10*time.Millisecond, time.Hour)
			return err
		}},
	{Name: "POLL_FIRST_DELAY", Help: "wait before the first poll of a job; default 3 × `POLL_INTERVAL_MIN`",
		set: func(c *Config, v string) (err error) {
			c.PollFirstDelay, err = duration(v, 10*time.Millisecond, time.Hour)
			return err
		}},
	{Name: "POLL_TIMEOUT", Default: "30m", Help: "a CCE job not finished by then fails its requests",
		set: func(c *Config, v string) (err error) {
			c.PollTimeout, err = duration(v, time.Second, 48*time.Hour)
			return err
		}},
	{Name: "RECORD_TTL", Default: "168h", Help: "how long request records stay readable in Redis",
		set: func(c *Config, v string) (err error) {
			c.RecordTTL, err = duration(v, time.Minute, 365*24*time.Hour)
			return err
		}},
	{Name: "KUBE_ACCESS", Default: "none", Help: "how workers reach each cluster's Kubernetes API to drain nodes: `cce` (a kubeconfig CCE issues, kept in memory), `dir` (one kubeconfig file per cluster in `KUBECONFIG_DIR`) or `none`",
		set: func(c *Config, v string) error { return oneOf(&c.KubeAccess, strings.ToLower(v), "none", "cce", "dir") }},
	{Name: "KUBE_ENDPOINT", Default: "internal", Help: "with `KUBE_ACCESS=cce`: the `internal` (VPC) or `external` (public) address of the cluster's API",
		set: func(c *Config, v string) error {
			return oneOf(&c.KubeEndpoint, strings.ToLower(v), "internal", "external")
		}},
	{Name: "KUBECONFIG_DIR", Help: "with `KUBE_ACCESS=dir`: a directory (a mounted Secret) holding one kubeconfig per cluster, named exactly the cluster id; read again when a file changes",
		set: func(c *Config, v string) error { c.KubeconfigDir = v; return nil }},
	{Name: "KUBE_QPS", Default: "20", Help: "Kubernetes API requests per second per cluster and worker (client-go's limit); bursts up to twice that",
		set: func(c *Config, v string) (err error) { c.KubeQPS, err = integer(v, 1, 1000); return err }},
	{Name: "KUBE_CERT_TTL", Default: "1h", Help: "with `KUBE_ACCESS=cce`: how long each kubeconfig CCE issues is asked to last (15m at least); a new one is asked for when a third of it is left",
		set: func(c *Config, v string) (err error) {
			c.KubeCertTTL, err = duration(v, 15*time.Minute, 30*24*time.Hour)
			return err
		}},
	{Name: "DRAIN", Help: "`on` or `off`: drain nodes through Kubernetes before CCE removes them, for requests that do not say; default `on` when `KUBE_ACCESS` is not `none`",
		set: func(c *Config, v string) error { return oneOf(&c.Drain, strings.ToLower(v), "on", "off") }},
	{Name: "DRAIN_TIMEOUT", Default: "10m", Help: "how long a node's drain may take (PodDisruptionBudgets allowing) before `DRAIN_ON_TIMEOUT` applies",
		set: func(c *Config, v string) (err error) {
			c.DrainTimeout, err = duration(v, time.Second, 24*time.Hour)
			return err
		}},
	{Name: "DRAIN_ON_TIMEOUT", Default: "fail", Help: "`fail`: give up, uncordon the node and fail it, naming the Pods and PDBs that held it; `remove`: let CCE remove it with its Pods still on it",
		set: func(c *Config, v string) error { return oneOf(&c.DrainOnTimeout, strings.ToLower(v), "fail", "remove") }},
	{Name: "DRAIN_GRACE_PERIOD", Help: "grace period given to each evicted Pod; default each Pod's own",
		set: func(c *Config, v string) error {
			d, err := duration(v, 0, time.Hour)
			c.DrainGracePeriod = &d
			return err
		}},
	{Name: "DRAIN_DELETE_EMPTYDIR_DATA", Default: "false", Help: "`true`: evict Pods with emptyDir volumes (their data is lost)",
		set: func(c *Config, v string) (err error) { c.DrainDeleteEmptyDirData, err = boolean(v); return err }},
	{Name: "DRAIN_FORCE", Default: "false", Help: "`true`: evict Pods that no controller manages (nothing recreates them)",
		set: func(c *Config, v string) (err error) { c.DrainForce, err = boolean(v); return err }},
	{Name: "DRAIN_INTERVAL", Default: "5s", Help: "time between a worker's passes over a draining node's Pods, at first and after each pass that evicted something (while nothing moves it grows to a tenth of the time since the drain last moved on, at most 30s)",
		set: func(c *Config, v string) (err error) {
			c.DrainInterval, err = duration(v, 10*time.Millisecond, time.Minute)
			return err
		}},
	{Name: "CLUSTER_MAX_DISRUPTING", Default: "10%", Help: "at most this many nodes of a cluster draining or removing at once, over every worker: a count, or a percentage of the cluster's nodes (CCE ListNodes, rounded up, at least 1 unless `0%`); `0` lets none go; others wait, in order (a cluster's own setting wins: `noderemover cluster set`)",
		set: func(c *Config, v string) (err error) { c.ClusterMaxDisrupting, err = budget(v); return err }},
	{Name: "CLUSTER_MIN_NODES", Default: "1", Help: "removals never leave a cluster with fewer nodes; a request that would is refused at once, with the numbers",
		set: func(c *Config, v string) (err error) { c.ClusterMinNodes, err = integer(v, 0, 100000); return err }},
	{Name: "EVENTS_MAX_LEN", Default: "100000", Help: "about how many events the stream `{noderemover}:events` keeps (trimmed as it grows); a reader resuming after an older event misses what was trimmed",
		set: func(c *Config, v string) (err error) {
			n, err := integer(v, 1000, 100_000_000)
			c.EventsMaxLen = int64(n)
			return err
		}},
	{Name: "WEBHOOK_ALLOWED_HOSTS", Help: "comma-separated hosts a request's `callback_url` may name: `host`, `host:port` or `*.domain`; a request naming another is refused at enqueue; empty: callbacks are off",
		set: func(c *Config, v string) error { c.WebhookAllowedHosts = v; return nil }},
	{Name: "WEBHOOK_SECRET", Secret: true, Help: "the key that signs callbacks (Standard Webhooks): `whsec_` and the base64 of 24 to 64 random bytes; needed with WEBHOOK_ALLOWED_HOSTS",
		set: func(c *Config, v string) (err error) { c.WebhookSecret, err = webhookSecret(v); return err }},
	{Name: "WEBHOOK_MAX_AGE", Default: "24h", Help: "how long a callback is tried again (with backoff) after its event, before it is given up and counted as failed",
		set: func(c *Config, v string) (err error) {
			c.WebhookMaxAge, err = duration(v, time.Minute, 30*24*time.Hour)
			return err
		}},
	{Name: "WATCH_CLUSTERS", Help: "`noderemover controller`: the clusters whose Nodes it watches for `noderemover.io/remove`, `project_id/cluster_id,...`, reached through `KUBE_ACCESS` as the workers reach them",
		set: func(c *Config, v string) error { return setWatchClusters(c, v) }},
	{Name: "WATCH_SSH_KEY", Help: "`noderemover controller`: the key pair a removed node gets when its Node names none (`noderemover.io/ssh-key`); a Node's password is never taken from an annotation",
		set: func(c *Config, v string) error { c.WatchSSHKey = strings.TrimSpace(v); return nil }},
	{Name: "WATCH_RESYNC", Default: "10m", Help: "`noderemover controller`: how often every watched Node is looked at again, besides its changes and its request's events",
		set: func(c *Config, v string) (err error) {
			c.WatchResync, err = duration(v, time.Second, 24*time.Hour)
			return err
		}},
	{Name: "HTTP_ADDR", Default: ":9090", Help: "worker's `/metrics`, `/healthz` and `/readyz`",
		set: func(c *Config, v string) (err error) { c.HTTPAddr, err = address(v); return err }},
	{Name: "HTTP_READ_TIMEOUT", Default: "30s", Help: "every HTTP server (worker, API, dashboard): how long a client may take to send a request's headers and body; a connection that promises a body and sends nothing is closed after it (streamed answers are not cut)",
		set: func(c *Config, v string) (err error) {
			c.HTTPReadTimeout, err = duration(v, 100*time.Millisecond, 10*time.Minute)
			return err
		}},
	{Name: "SHUTDOWN_TIMEOUT", Default: "25s", Help: "after SIGTERM, how long running handlers may finish (keep it below the pod's grace period)",
		set: func(c *Config, v string) (err error) {
			c.ShutdownTimeout, err = duration(v, time.Second, 10*time.Minute)
			return err
		}},
	{Name: "API_ADDR", Default: ":8080", Help: "address of the HTTP API (`noderemover api`)",
		set: func(c *Config, v string) (err error) { c.APIAddr, err = address(v); return err }},
	{Name: "API_TOKENS", Secret: true, Help: "comma-separated bearer tokens the API accepts, each at least 16 characters",
		set: func(c *Config, v string) (err error) { c.APITokens, err = tokens(v); return err }},
	{Name: "DASHBOARD_ADDR", Default: "127.0.0.1:8081", Help: "address of the dashboard (`noderemover dashboard`); not loopback only with a user and password",
		set: func(c *Config, v string) (err error) { c.DashboardAddr, err = address(v); return err }},
	{Name: "DASHBOARD_USER", Help: "dashboard basic-auth user",
		set: func(c *Config, v string) error { c.DashboardUser = v; return nil }},
	{Name: "DASHBOARD_PASSWORD", Secret: true, Help: "dashboard basic-auth password",
		set: func(c *Config, v string) error { c.DashboardPassword = Secret(v); return nil }},
	{Name: "DASHBOARD_READ_ONLY", Default: "false", Help: "`true` for a dashboard that only shows",
		set: func(c *Config, v string) (err error) { c.DashboardReadOnly, err = boolean(v); return err }},
	{Name: "LOG_LEVEL", Default: "info", Help: "`trace`, `debug`, `info`, `warn` or `error`",
		set: func(c *Config, v string) error {
			return oneOf(&c.LogLevel, strings.ToLower(v), "trace", "debug", "info", "warn", "error")
		}},
	{Name: "LOG_FORMAT", Default: "json", Help: "`json` (one object per line) or `console` (for people)",
		set: func(c *Config, v string) error { return oneOf(&c.LogFormat, strings.ToLower(v), "json", "console") }},
}

var regionPattern = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

func setRegion(c *Config, v string) error {
	if !regionPattern.MatchString(v) {
		return errors.New("not a region name like cn-north-4")
	}
	c.CCERegion = v
	if c.CCEEndpoint == "" {
		c.CCEEndpoint = RegionEndpoint(v)
	}
	return nil
}

// RegionEndpoint is the CCE endpoint of a region as the SDK has it, the
// same as cce.EndpointForRegion (this package imports none of ours; a test
// in cmd/noderemover holds the two together).
func RegionEndpoint(region string) string {
	if region == "eu-west-101" {
		return "https://cce.eu-west-101.myhuaweicloud.eu"
	}
	return "https://cce." + region + ".myhuaweicloud.com"
}

func setEndpoint(c *Config, v string) (err error) {
	c.CCEEndpoint, err = baseURL(v)
	return err
}

// baseURL checks an http(s) base URL and drops its trailing slash.
func baseURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", errors.New("scheme must be https or http")
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", errors.New("must be a base URL without user, query or fragment")
	}
	return strings.TrimRight(v, "/"), nil
}

// endpoints reads CCE_ENDPOINTS: region=url pairs, comma-separated, each
// region once.
func endpoints(v string) (map[string]string, error) {
	out := map[string]string{}
	for i, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		region, raw, ok := strings.Cut(pair, "=")
		region, raw = strings.TrimSpace(region), strings.TrimSpace(raw)
		switch {
		case pair == "":
			return nil, fmt.Errorf("entry %d is empty; give region=url,region=url", i+1)
		case !ok || raw == "":
			return nil, fmt.Errorf("entry %d %q is not region=url", i+1, pair)
		case !regionPattern.MatchString(region):
			return nil, fmt.Errorf("entry %d: %q is not a region name like cn-north-4", i+1, region)
		}
		if _, dup := out[region]; dup {
			return nil, fmt.Errorf("region %s is given twice", region)
		}
		u, err := baseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("region %s: url %q: %w", region, raw, err)
		}
		out[region] = u
	}
	return out, nil
}

func duration(v string, min, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration like 200ms, 15s or 2m")
	}
	if d < min || d > max {
		return 0, fmt.Errorf("must be between %v and %v", min, max)
	}
	return d, nil
}

// budget checks a count of nodes or a percentage of them ("3", "10%"); the
// worker reads it as removal.ParseBudget does.
func budget(v string) (string, error) {
	n, pct := strings.CutSuffix(v, "%")
	limit := 100000
	if pct {
		limit = 100
	}
	if _, err := integer(n, 0, limit); err != nil || strings.HasPrefix(n, "+") {
		return "", errors.New("not a count of nodes (3) nor a percentage of a cluster's nodes (10%)")
	}
	return v, nil
}

func integer(v string, min, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < min || n > max {
		return 0, fmt.Errorf("must be between %d and %d", min, max)
	}
	return n, nil
}

func address(v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("not an address like :8080 or 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return v, nil
}

// minTokenLength keeps guessable bearer tokens out.
const minTokenLength = 16

func tokens(v string) ([]Secret, error) {
	var out []Secret
	for i, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if len(t) < minTokenLength {
			return nil, fmt.Errorf("token %d is shorter than %d characters", i+1, minTokenLength)
		}
		out = append(out, Secret(t))
	}
	return out, nil
}

func boolean(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, errors.New("must be true or false")
}

// isLoopback reports whether addr (host:port) only listens on loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func oneOf(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

// webhookSecret checks a Standard Webhooks secret: "whsec_" and base64 of
// 24 to 64 bytes. The error never quotes it.
func webhookSecret(v string) (Secret, error) {
	b64, ok := strings.CutPrefix(v, "whsec_")
	if !ok {
		return "", errors.New("must start with whsec_ (the Standard Webhooks form), then the base64 of the key")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", errors.New("what follows whsec_ is not base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return "", fmt.Errorf("the key is %d bytes; give 24 to 64 random bytes (e.g. whsec_$(head -c 32 /dev/urandom | base64))", len(key))
	}
	return Secret(v), nil
}

// watchEntry is one WATCH_CLUSTERS entry: project_id/cluster_id.
var watchEntry = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$`)

func setWatchClusters(c *Config, v string) error {
	var out []string
	for i, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !watchEntry.MatchString(e) {
			return fmt.Errorf("entry %d %q is not project_id/cluster_id (letters, digits, '_' or '-')", i+1, e)
		}
		out = append(out, e)
	}
	c.WatchClusters = strings.Join(out, ",")
	return nil
}
