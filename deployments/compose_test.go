package deployments

import (
	"encoding/json"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/noderemover/noderemover/config"
)

const composePath = "compose.yaml"

// composeFile is the part of the Compose specification compose.yaml uses;
// decoding strictly into it fails on anything else (add the field here when
// the file needs it). Top-level x- extension fields are allowed, as Compose
// allows them.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]*composeVolume `json:"volumes"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Ports       []string          `json:"ports"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		Retries     int      `json:"retries"`
		StartPeriod string   `json:"start_period"`
	} `json:"healthcheck"`
	StopGracePeriod string   `json:"stop_grace_period"`
	Volumes         []string `json:"volumes"`
	Restart         string   `json:"restart"`
	ReadOnly        bool     `json:"read_only"`
	CapDrop         []string `json:"cap_drop"`
	SecurityOpt     []string `json:"security_opt"`
}

type composeVolume struct {
	Driver string `json:"driver"`
}

func loadCompose(tb testing.TB) composeFile {
	tb.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		tb.Fatal(err)
	}
	// YAML anchors and merge keys are resolved here, as Compose resolves them.
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		tb.Fatalf("%s: %v", composePath, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		tb.Fatalf("%s: %v", composePath, err)
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	rest, err := json.Marshal(top)
	if err != nil {
		tb.Fatal(err)
	}
	var f composeFile
	if err := decodeStrict(rest, &f); err != nil {
		tb.Fatalf("%s: %v", composePath, err)
	}
	return f
}

// composeProcess is a service running the noderemover image.
type composeProcess struct {
	name   string
	svc    composeService
	sub    string
	cfg    config.Config
	cfgErr error
}

func TestCompose(t *testing.T) {
	f := loadCompose(t)
	subs := subcommands(t)

	var procs []composeProcess
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		svc := f.Services[name]
		if svc.Build == nil {
			continue // not ours (redis)
		}
		p := composeProcess{name: name, svc: svc}
		if len(svc.Command) > 0 {
			p.sub = svc.Command[0]
		}
		p.cfg, p.cfgErr = loadConfig(p.sub, svc.Environment)
		procs = append(procs, p)
	}
	proc := func(tb testing.TB, sub string) composeProcess {
		tb.Helper()
		for _, p := range procs {
			if p.sub == sub {
				return p
			}
		}
		tb.Fatalf("no service runs noderemover %s", sub)
		return composeProcess{}
	}

	t.Run("Services", func(t *testing.T) {
		for _, want := range []string{"redis", "fake-cce", "worker", "api", "dashboard"} {
			if _, ok := f.Services[want]; !ok {
				t.Errorf("no service %s", want)
			}
		}
	})

	t.Run("BuildTheDockerfile", func(t *testing.T) {
		images := map[string]bool{}
		for _, p := range procs {
			b := p.svc.Build
			if b.Context != repoRoot {
				t.Errorf("%s: build context %q; the Dockerfile wants the repository root, %q", p.name, b.Context, repoRoot)
			}
			// Compose resolves context against the compose file's directory and
			// dockerfile against the context.
			if !sameFile(filepath.Join(b.Context, filepath.FromSlash(b.Dockerfile)), dockerfilePath) {
				t.Errorf("%s: dockerfile %q (in context %q) is not deployments/%s", p.name, b.Dockerfile, b.Context, dockerfilePath)
			}
			images[p.svc.Image] = true
		}
		if len(images) != 1 {
			t.Errorf("images %v; want one image for every subcommand", images)
		}
	})

	t.Run("Subcommands", func(t *testing.T) {
		for _, p := range procs {
			if !subs[p.sub] {
				t.Errorf("%s: command %q does not start with a subcommand of noderemover", p.name, p.svc.Command)
			}
		}
		for _, sub := range []string{"fake-cce", "worker", "api", "dashboard"} {
			proc(t, sub)
		}
	})

	t.Run("EnvNamesAreKnown", func(t *testing.T) {
		for _, name := range slices.Sorted(maps.Keys(f.Services)) {
			if name == "redis" {
				continue
			}
			checkKnown(t, "service "+name, slices.Sorted(maps.Keys(f.Services[name].Environment))...)
		}
	})

	t.Run("SecretsAreLocalOnly", func(t *testing.T) {
		for _, p := range procs {
			for k, v := range p.svc.Environment {
				if isSecretVar(k) && !strings.HasPrefix(v, "local-only-") {
					t.Errorf("%s: %s does not start with local-only-: the compose file holds placeholders only", p.name, k)
				}
			}
		}
	})

	t.Run("ProcessesLoadTheirConfig", func(t *testing.T) {
		for _, p := range procs {
			if _, ok := servers[p.sub]; ok && p.cfgErr != nil {
				t.Errorf("%s: noderemover %s would not start: %v", p.name, p.sub, p.cfgErr)
			}
		}
	})

	t.Run("DashboardAuthOffLoopback", func(t *testing.T) {
		p := proc(t, "dashboard")
		if p.cfgErr != nil {
			t.Fatal(p.cfgErr)
		}
		checkDashboardAuth(t, p.name, p.cfg, p.svc.Environment)
	})

	t.Run("PublishedPortsReachServers", func(t *testing.T) {
		for _, p := range procs {
			s, ok := servers[p.sub]
			if !ok || p.cfgErr != nil {
				continue
			}
			host, port := splitAddr(t, s.addr(p.cfg))
			if !allInterfaces(host) {
				t.Errorf("%s: %s=%s: inside a container only all interfaces are reachable through a published port", p.name, s.addrVar, s.addr(p.cfg))
			}
			found := false
			for _, spec := range p.svc.Ports {
				hostIP, container := publishedPort(t, spec)
				if container == port {
					found = true
					if hostIP != "127.0.0.1" {
						t.Errorf("%s: port %q is published beyond the host's loopback, with placeholder credentials", p.name, spec)
					}
				}
			}
			if !found {
				t.Errorf("%s: no published port goes to %d, where %s serves", p.name, port, s.addrVar)
			}
		}
	})

	t.Run("RedisIsDurable", func(t *testing.T) {
		r := f.Services["redis"]
		if !hasOption(r.Command, "--appendonly", "yes") {
			t.Errorf("redis command %q lacks --appendonly yes: a restart would lose the queue", r.Command)
		}
		if !hasOption(r.Command, "--maxmemory-policy", "noeviction") {
			t.Errorf("redis command %q lacks --maxmemory-policy noeviction: asynq's keys could be evicted", r.Command)
		}
		mounted := false
		for _, v := range r.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if _, named := f.Volumes[src]; named && strings.HasPrefix(dst, "/data") {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("redis volumes %q: want a named volume (declared under volumes) on /data", r.Volumes)
		}
		hc := r.Healthcheck
		if hc == nil || !slices.Contains(hc.Test, "redis-cli") || !slices.Contains(hc.Test, "ping") {
			t.Error("redis has no redis-cli ping healthcheck, which depends_on waits for")
		}
	})

	t.Run("WaitForHealthyRedis", func(t *testing.T) {
		for _, p := range procs {
			if p.sub == "fake-cce" {
				continue
			}
			if p.svc.DependsOn["redis"].Condition != "service_healthy" {
				t.Errorf("%s: does not depend on redis with condition service_healthy", p.name)
			}
			if p.cfgErr != nil {
				continue
			}
			if r := p.cfg.Redis; len(r.Addrs) != 1 || r.Addrs[0] != "redis:6379" {
				t.Errorf("%s: REDIS_URL is %s; the redis service is redis:6379", p.name, r)
			}
		}
	})

	t.Run("WorkerReachesFakeCCE", func(t *testing.T) {
		w, fake := proc(t, "worker"), proc(t, "fake-cce")
		if w.cfgErr != nil {
			t.Fatal(w.cfgErr)
		}
		u, err := url.Parse(w.cfg.CCEEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		addr := flagValue(fake.svc.Command, "--addr")
		_, port := splitAddr(t, addr)
		if u.Hostname() != fake.name || u.Port() != strconv.Itoa(port) {
			t.Errorf("worker CCE_ENDPOINT %s; fake-cce is service %s listening on %s", w.cfg.CCEEndpoint, fake.name, addr)
		}
		if w.svc.Environment["CCE_AUTH_TOKEN"] != fake.svc.Environment["CCE_AUTH_TOKEN"] {
			t.Error("worker and fake-cce have different CCE_AUTH_TOKENs: every call would get 401")
		}
		if w.svc.DependsOn[fake.name].Condition == "" {
			t.Errorf("worker does not depend on %s", fake.name)
		}
	})

	t.Run("StopGracePeriodAboveShutdownTimeout", func(t *testing.T) {
		for _, p := range procs {
			if s, ok := servers[p.sub]; !ok || !s.drains || p.cfgErr != nil {
				continue
			}
			grace := 10 * time.Second // Compose's default
			if p.svc.StopGracePeriod != "" {
				d, err := time.ParseDuration(p.svc.StopGracePeriod)
				if err != nil {
					t.Errorf("%s: stop_grace_period %q: %v", p.name, p.svc.StopGracePeriod, err)
					continue
				}
				grace = d
			}
			if grace <= p.cfg.ShutdownTimeout {
				t.Errorf("%s: stop_grace_period %v is not above SHUTDOWN_TIMEOUT %v: Compose kills it while work is in flight", p.name, grace, p.cfg.ShutdownTimeout)
			}
		}
		if proc(t, "worker").svc.StopGracePeriod == "" {
			t.Error("the worker leaves stop_grace_period to Compose's 10 s")
		}
	})
}

// publishedPort reads a short-syntax port, [HOST_IP:]HOST_PORT:CONTAINER_PORT.
func publishedPort(tb testing.TB, spec string) (hostIP string, container int) {
	tb.Helper()
	s := strings.TrimSuffix(spec, "/tcp")
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		tb.Fatalf("port %q publishes on a random host port", spec)
	}
	container, err := strconv.Atoi(s[i+1:])
	if err != nil {
		tb.Fatalf("port %q: %v", spec, err)
	}
	if ip, _, err := net.SplitHostPort(s[:i]); err == nil {
		hostIP = ip
	}
	return hostIP, container
}

// hasOption reports whether args hold name followed by value.
func hasOption(args []string, name, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name && args[i+1] == value {
			return true
		}
	}
	return slices.Contains(args, name+"="+value)
}

// flagValue returns the value of a flag given as "--name value" or "--name=value".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func sameFile(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}
