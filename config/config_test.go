package config_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/config"
)

func env(kv ...string) config.Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"redis", c.Redis.String(), "redis://127.0.0.1:6379/0"},
		{"concurrency", c.WorkerConcurrency, 10},
		{"backoff min", c.RetryBackoffMin, 2 * time.Second},
		{"backoff max", c.RetryBackoffMax, 2 * time.Minute},
		{"poll min", c.PollIntervalMin, 10 * time.Second},
		{"poll max", c.PollIntervalMax, 20 * time.Second},
		{"first poll", c.PollFirstDelay, 30 * time.Second},
		{"poll timeout", c.PollTimeout, 30 * time.Minute},
		{"record ttl", c.RecordTTL, 168 * time.Hour},
		{"log level", c.LogLevel, "info"},
		{"log format", c.LogFormat, "json"},
		{"cce timeout", c.CCETimeout, 30 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"WORKER_CONCURRENCY", "ten", "not a whole number"},
		{"WATCH_CLUSTERS", "c1", "not project_id/cluster_id"},
		{"WATCH_CLUSTERS", "p/c,p/c!", "entry 2"},
		{"WATCH_RESYNC", "0s", "between"},
		{"WORKER_CONCURRENCY", "0", "between 1 and 1000"},
		{"RETRY_BACKOFF_MIN", "5", "not a duration"},
		{"RETRY_BACKOFF_MAX", "-1s", "between"},
		{"POLL_INTERVAL_MIN", "1ns", "between"},
		{"POLL_INTERVAL_MAX", "soon", "not a duration"},
		{"POLL_FIRST_DELAY", "x", "not a duration"},
		{"POLL_TIMEOUT", "0s", "between"},
		{"RECORD_TTL", "1s", "between"},
		{"SUBMIT_MAX_ATTEMPTS", "21", "between 1 and 20"},
		{"CCE_TIMEOUT", "1h1s", "between"},
		{"LOG_LEVEL", "loud", "must be one of"},
		{"LOG_FORMAT", "xml", "must be one of"},
		{"CCE_REGION", "North 4", "not a region name"},
		{"CCE_ENDPOINT", "ftp://cce.example.com", "scheme"},
		{"CCE_ENDPOINT", "https://cce.example.com?x=1", "base URL"},
		{"CCE_ENDPOINTS", "cn-north-4", "is not region=url"},
		{"CCE_ENDPOINTS", "cn-north-4=", "is not region=url"},
		{"CCE_ENDPOINTS", "North 4=https://cce.example.com", "not a region name"},
		{"CCE_ENDPOINTS", "cn-north-4=ftp://cce.example.com", "scheme"},
		{"CCE_ENDPOINTS", "cn-north-4=https://", "no host"},
		{"CCE_ENDPOINTS", "cn-north-4=https://cce.example.com?x=1", "base URL"},
		{"CCE_ENDPOINTS", "cn-north-4=https://cce.example.com/?", "base URL"},
		{"CCE_ENDPOINTS", "cn-north-4=https://a.example.com,cn-north-4=https://b.example.com", "given twice"},
		{"CCE_ENDPOINTS", "cn-north-4=https://a.example.com,,eu-west-101=https://b.example.com", "entry 2 is empty"},
		{"REDIS_URL", "http://localhost", "scheme"},
		{"REDIS_URL", "redis://localhost/99", "database"},
		{"REDIS_URL", "redis://localhost:99999", "port"},
		{"REDIS_URL", "redis-sentinel://a:26379,b:26379", "master"},
		{"REDIS_URL", "redis://a:1,b:2", "one host"},
		{"REDIS_URL", "redis-cluster://a:1/3", "database 0"},
		{"REDIS_URL", "redis://localhost?pool=3", "unknown query parameter"},
		{"HTTP_ADDR", "9090", "not an address"},
		{"API_ADDR", "localhost:http", "port"},
		{"DASHBOARD_ADDR", ":99999", "port"},
		{"SHUTDOWN_TIMEOUT", "1h", "between"},
		{"API_TOKENS", "short", "shorter than 16"},
		{"API_TOKENS", "0123456789abcdef,,", "token 2"},
		{"DASHBOARD_READ_ONLY", "maybe", "true or false"},
		{"BATCH_WINDOW", "2", "not a duration"},
		{"BATCH_WINDOW", "-1s", "between"},
		{"CCE_WRITE_RATE", "5", "not a rate like 5/s, 10/m or off"},
		{"CCE_WRITE_RATE", "5/h", "unit"},
		{"CCE_WRITE_RATE", "0/s", "above 0 (off is no limit)"},
		{"CCE_WRITE_RATE", "0", "not a rate"},
		{"CCE_READ_RATE", "x/s", "not a number"},
		{"CCE_READ_RATE", "5000/s", "above 1000"},
		{"CCE_READ_RATE", "of", "not a rate"},
		{"CCE_READ_RATE", "off/s", "not a number"},
		{"CCE_READ_RATE", "none", "not a rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := config.Load(env(tc.name, tc.value))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s and say %q", err, tc.name, tc.want)
			}
		})
	}
}

func TestRelationsAreChecked(t *testing.T) {
	cases := []struct {
		env  config.Getenv
		want string
	}{
		{env("RETRY_BACKOFF_MIN", "3m"), "RETRY_BACKOFF_MIN (3m0s) is above RETRY_BACKOFF_MAX"},
		{env("POLL_INTERVAL_MIN", "30s"), "POLL_INTERVAL_MIN (30s) is above POLL_INTERVAL_MAX"},
		{env("POLL_TIMEOUT", "5s"), "POLL_TIMEOUT (5s) is below POLL_INTERVAL_MAX"},
	}
	for _, tc := range cases {
		if _, err := config.Load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestAllErrorsAreReported(t *testing.T) {
	_, err := config.Load(env("LOG_LEVEL", "x", "LOG_FORMAT", "y"))
	if err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("error %v does not name both variables", err)
	}
}

func TestEndpoint(t *testing.T) {
	c, err := config.Load(env("CCE_REGION", "cn-north-4"))
	if err != nil || c.CCEEndpoint != "https://cce.cn-north-4.myhuaweicloud.com" {
		t.Errorf("from region: %q %v", c.CCEEndpoint, err)
	}
	c, err = config.Load(env("CCE_REGION", "cn-north-4", "CCE_ENDPOINT", "http://127.0.0.1:8080/"))
	if err != nil || c.CCEEndpoint != "http://127.0.0.1:8080" {
		t.Errorf("explicit endpoint wins: %q %v", c.CCEEndpoint, err)
	}
}

func TestEndpoints(t *testing.T) {
	c, err := config.Load(env("CCE_REGION", "eu-west-101"))
	if err != nil || c.CCEEndpoint != "https://cce.eu-west-101.myhuaweicloud.eu" {
		t.Errorf("eu-west-101 from its region: %q %v", c.CCEEndpoint, err)
	}
	c, err = config.Load(env("CCE_REGION", "cn-north-4",
		"CCE_ENDPOINTS", " eu-west-101 = http://127.0.0.1:9001/ , cn-north-4=http://127.0.0.1:9000"))
	want := map[string]string{"eu-west-101": "http://127.0.0.1:9001", "cn-north-4": "http://127.0.0.1:9000"}
	if err != nil || !maps.Equal(c.CCEEndpoints, want) {
		t.Errorf("CCE_ENDPOINTS = %v %v, want %v", c.CCEEndpoints, err, want)
	}
	if c.CCEEndpoint != "http://127.0.0.1:9000" {
		t.Errorf("CCE_REGION's endpoint from CCE_ENDPOINTS: %q", c.CCEEndpoint)
	}
	_, err = config.Load(env("CCE_REGION", "cn-north-4", "CCE_ENDPOINT", "http://127.0.0.1:8000",
		"CCE_ENDPOINTS", "cn-north-4=http://127.0.0.1:9000"))
	if err == nil || !strings.Contains(err.Error(), "CCE_ENDPOINTS") || !strings.Contains(err.Error(), "CCE_ENDPOINT ") {
		t.Errorf("two endpoints for CCE_REGION: %v", err)
	}
}

func TestIAMURL(t *testing.T) {
	for region, want := range map[string]string{
		"cn-north-4":  "https://iam.cn-north-4.myhuaweicloud.com",
		"eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu",
	} {
		c, err := config.Load(env("CCE_REGION", region))
		if err != nil || c.IAMURL() != want {
			t.Errorf("%s: %q %v, want %s", region, c.IAMURL(), err, want)
		}
	}
}

func TestCheckCCE(t *testing.T) {
	base := []string{"CCE_REGION", "cn-north-4"}
	cases := []struct {
		name string
		kv   []string
		want string // "" = valid
	}{
		{"Token", append(base, "CCE_AUTH_TOKEN", "t"), ""},
		{"AKSK", append(base, "HUAWEICLOUD_SDK_AK", "a", "HUAWEICLOUD_SDK_SK", "s"), ""},
		{"AKSKTemporary", append(base, "HUAWEICLOUD_SDK_AK", "a", "HUAWEICLOUD_SDK_SK", "s", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "x"), ""},
		{"NoEndpoint", []string{"CCE_AUTH_TOKEN", "t"}, "CCE_ENDPOINT or CCE_REGION"},
		{"NoAuthIsECSMetadata", base, ""},
		{"KeyFiles", append(base, "HUAWEICLOUD_SDK_AK_FILE", "/s/ak", "HUAWEICLOUD_SDK_SK_FILE", "/s/sk", "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE", "/s/t"), ""},
		{"AKFileOnly", append(base, "HUAWEICLOUD_SDK_AK_FILE", "/s/ak"), "HUAWEICLOUD_SDK_AK_FILE and HUAWEICLOUD_SDK_SK_FILE go together"},
		{"SecurityTokenFileOnly", append(base, "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE", "/s/t"), "go together"},
		{"KeysAndKeyFiles", append(base, "HUAWEICLOUD_SDK_AK", "a", "HUAWEICLOUD_SDK_SK", "s", "HUAWEICLOUD_SDK_AK_FILE", "/s/ak", "HUAWEICLOUD_SDK_SK_FILE", "/s/sk"), "HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_AK_FILE are all set"},
		{"WorkloadIdentity", append(base, "HUAWEICLOUD_SDK_IDP_ID", "idp", "HUAWEICLOUD_SDK_ID_TOKEN_FILE", "/var/run/secrets/tokens/oidc-token"), ""},
		{"WorkloadIdentityNoFile", append(base, "HUAWEICLOUD_SDK_IDP_ID", "idp"), "HUAWEICLOUD_SDK_IDP_ID and HUAWEICLOUD_SDK_ID_TOKEN_FILE go together"},
		{"WorkloadIdentityNoIAM", []string{"CCE_ENDPOINT", "http://127.0.0.1:1", "HUAWEICLOUD_SDK_IDP_ID", "idp", "HUAWEICLOUD_SDK_ID_TOKEN_FILE", "/t"}, "workload identity needs IAM_ENDPOINT"},
		{"Metadata", append(base, "ECS_METADATA_ENDPOINT", "http://169.254.169.254"), ""},
		{"MetadataNotAURL", append(base, "ECS_METADATA_ENDPOINT", "169.254.169.254"), "ECS_METADATA_ENDPOINT"},
		{"MetadataAndToken", append(base, "ECS_METADATA_ENDPOINT", "http://169.254.169.254", "CCE_AUTH_TOKEN", "t"), "not several"},
		{"Both", append(base, "CCE_AUTH_TOKEN", "t", "HUAWEICLOUD_SDK_AK", "a", "HUAWEICLOUD_SDK_SK", "s"), "not several"},
		{"TokenAndIAM", append(base, "CCE_AUTH_TOKEN", "t", "IAM_USERNAME", "u", "IAM_DOMAIN", "d", "IAM_PASSWORD", "p"), "not several"},
		{"TokenFile", append(base, "CCE_AUTH_TOKEN_FILE", "/run/secrets/token"), ""},
		{"IAMPassword", append(base, "IAM_USERNAME", "u", "IAM_DOMAIN", "d", "IAM_PASSWORD", "p", "IAM_ENDPOINT", "https://iam.example"), ""},
		{"IAMPasswordFile", append(base, "IAM_USERNAME", "u", "IAM_DOMAIN", "d", "IAM_PASSWORD_FILE", "/run/secrets/pw", "IAM_ENDPOINT", "https://iam.example"), ""},
		{"IAMNoDomain", append(base, "IAM_USERNAME", "u", "IAM_PASSWORD", "p", "IAM_ENDPOINT", "https://iam.example"), "IAM_USERNAME and IAM_DOMAIN go together"},
		{"IAMBothPasswords", append(base, "IAM_USERNAME", "u", "IAM_DOMAIN", "d", "IAM_PASSWORD", "p", "IAM_PASSWORD_FILE", "/f", "IAM_ENDPOINT", "https://iam.example"), "exactly one of IAM_PASSWORD"},
		{"AKOnly", append(base, "HUAWEICLOUD_SDK_AK", "a"), "HUAWEICLOUD_SDK_SK must be set"},
		{"SKOnly", append(base, "HUAWEICLOUD_SDK_SK", "s"), "HUAWEICLOUD_SDK_AK must be set"},
		{"SecurityTokenWithToken", append(base, "CCE_AUTH_TOKEN", "t", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "x"), "needs HUAWEICLOUD_SDK_AK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.kv...))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckCCE()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	c, err := config.Load(env("CCE_AUTH_TOKEN", "tok-123", "HUAWEICLOUD_SDK_SK", "sk-456",
		"REDIS_URL", "redis://user:pw-789@localhost:6379/1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(raw), c.Redis.String()} {
		for _, secret := range []string{"tok-123", "sk-456", "pw-789"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows up in %s", secret, out)
			}
		}
	}
	if c.CCEAuthToken.Reveal() != "tok-123" || c.Redis.Password.Reveal() != "pw-789" {
		t.Error("Reveal does not give the value back")
	}
	_, err = config.Load(env("REDIS_URL", "redis://user:pw-789@localhost:6379/77"))
	if err == nil || strings.Contains(err.Error(), "pw-789") {
		t.Errorf("error %v leaks the Redis password", err)
	}
}

func TestRedisURLForms(t *testing.T) {
	cases := []struct {
		url  string
		want config.RedisTarget
	}{
		{"redis://localhost", config.RedisTarget{Mode: "single", Addrs: []string{"localhost:6379"}}},
		{"rediss://u:p@cache.example.com:6380/2", config.RedisTarget{Mode: "single", Addrs: []string{"cache.example.com:6380"}, Username: "u", Password: "p", DB: 2, TLS: true}},
		{"redis-sentinel://:p@s1:26379,s2:26379/1?master=mymaster", config.RedisTarget{Mode: "sentinel", Addrs: []string{"s1:26379", "s2:26379"}, Password: "p", DB: 1, MasterName: "mymaster"}},
		{"redis-cluster://n1:7000,n2:7001,n3", config.RedisTarget{Mode: "cluster", Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}}},
	}
	for _, tc := range cases {
		got, err := config.ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) || got.Password.Reveal() != tc.want.Password.Reveal() {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.url, got, tc.want)
		}
	}
}

func TestOverlayWins(t *testing.T) {
	c, err := config.Load(config.Overlay(env("WORKER_CONCURRENCY", "3"), map[string]string{"WORKER_CONCURRENCY": "7"}))
	if err != nil || c.WorkerConcurrency != 7 {
		t.Errorf("concurrency %d err %v, want the flag's 7", c.WorkerConcurrency, err)
	}
}

func TestKnownAndVariables(t *testing.T) {
	if !config.Known("REDIS_URL") || config.Known("REDIS_URI") {
		t.Error("Known is wrong")
	}
	vars := config.Variables()
	for i, v := range vars {
		if v.Help == "" {
			t.Errorf("%s has no help", v.Name)
		}
		if i > 0 && vars[i-1].Name >= v.Name {
			t.Errorf("not sorted at %s", v.Name)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, seed := range [][2]string{
		{"REDIS_URL", "redis://localhost:6379/0"}, {"REDIS_URL", "redis-sentinel://a,b?master=m"},
		{"POLL_INTERVAL_MIN", "200ms"}, {"WORKER_CONCURRENCY", "12"}, {"CCE_ENDPOINT", "https://x"},
		{"CCE_REGION", "ap-southeast-1"}, {"LOG_LEVEL", "DEBUG"}, {"CCE_WRITE_RATE", "off"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		c, err := config.Load(env(name, value))
		if err != nil {
			return
		}
		if c.WorkerConcurrency < 1 || c.PollIntervalMin > c.PollIntervalMax || c.RetryBackoffMin > c.RetryBackoffMax ||
			len(c.Redis.Addrs) == 0 || c.PollFirstDelay <= 0 {
			t.Errorf("%s=%q accepted into an unusable config: %+v", name, value, c)
		}
	})
}

func TestCheckAPI(t *testing.T) {
	c, _ := config.Load(env())
	if err := c.CheckAPI(); err == nil || !strings.Contains(err.Error(), "API_TOKENS") {
		t.Errorf("no tokens: %v", err)
	}
	c, err := config.Load(env("API_TOKENS", " 0123456789abcdef , fedcba9876543210"))
	if err != nil || c.CheckAPI() != nil || len(c.APITokens) != 2 || c.APITokens[1].Reveal() != "fedcba9876543210" {
		t.Errorf("two tokens: %v %v", c.APITokens, err)
	}
}

func TestCheckDashboard(t *testing.T) {
	cases := []struct {
		kv   []string
		want string // "" = may start
	}{
		{nil, ""},
		{[]string{"DASHBOARD_ADDR", "[::1]:8081"}, ""},
		{[]string{"DASHBOARD_ADDR", "localhost:8081"}, ""},
		{[]string{"DASHBOARD_ADDR", ":8081"}, "not a loopback address"},
		{[]string{"DASHBOARD_ADDR", "0.0.0.0:8081"}, "not a loopback address"},
		{[]string{"DASHBOARD_ADDR", ":8081", "DASHBOARD_USER", "ops", "DASHBOARD_PASSWORD", "pw"}, ""},
		{[]string{"DASHBOARD_USER", "ops"}, "together"},
	}
	for _, tc := range cases {
		c, err := config.Load(env(tc.kv...))
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckDashboard()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.kv, err, tc.want)
		}
	}
}

func TestRates(t *testing.T) {
	c, err := config.Load(env("CCE_WRITE_RATE", "5/s", "CCE_READ_RATE", "0.5/s", "BATCH_WINDOW", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if c.WriteRate.PerSecond() != 5 || c.ReadRate.PerSecond() != 0.5 || c.BatchWindow != 0 {
		t.Errorf("%v %v %v", c.WriteRate, c.ReadRate, c.BatchWindow)
	}
	d, _ := config.Load(env())
	if d.WriteRate.String() != "10/m" || d.ReadRate.String() != "20/s" || d.BatchWindow != 2*time.Second {
		t.Errorf("defaults %v %v %v", d.WriteRate, d.ReadRate, d.BatchWindow)
	}
	// off is no limit: 0 per second, which the worker takes as unlimited. It
	// is a word, so any case goes, as LOG_LEVEL's do.
	for _, off := range []string{"off", "OFF", " Off "} {
		o, err := config.Load(env("CCE_WRITE_RATE", off, "CCE_READ_RATE", off))
		if err != nil {
			t.Fatalf("%q: %v", off, err)
		}
		for _, r := range []config.Rate{o.WriteRate, o.ReadRate} {
			if r.PerSecond() != 0 || r.String() != "off" {
				t.Errorf("%q: %v per second, %q", off, r.PerSecond(), r.String())
			}
		}
	}
}
