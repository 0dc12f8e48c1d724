package deployments

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/noderemover/noderemover/config"
)

// repoRoot is the module root, seen from this package's directory (where
// `go test` runs the tests); the Docker build context and compose's `..`.
const repoRoot = ".."

// server is a subcommand that runs as a service and serves package health's
// probes on an address from the configuration.
type server struct {
	// addrVar names the variable of the address; addr reads it once loaded.
	addrVar string
	addr    func(config.Config) string
	// drains is true when the process lets work in flight finish for up to
	// SHUTDOWN_TIMEOUT after SIGTERM, so its grace period must be longer.
	drains bool
	// check is what the subcommand checks before it starts.
	check func(*config.Config) error
}

// servers are the long-running subcommands the deployment files start.
var servers = map[string]server{
	"worker": {addrVar: "HTTP_ADDR", addr: func(c config.Config) string { return c.HTTPAddr }, drains: true,
		check: (*config.Config).CheckCCE},
	"api": {addrVar: "API_ADDR", addr: func(c config.Config) string { return c.APIAddr }, drains: true,
		check: (*config.Config).CheckAPI},
	"controller": {addrVar: "HTTP_ADDR", addr: func(c config.Config) string { return c.HTTPAddr }, drains: true,
		check: (*config.Config).CheckCCE},
	"dashboard": {addrVar: "DASHBOARD_ADDR", addr: func(c config.Config) string { return c.DashboardAddr },
		check: (*config.Config).CheckDashboard},
}

// loadConfig loads env as subcommand sub does at start, with the check it
// runs before serving; the Config has every default applied.
func loadConfig(sub string, env map[string]string) (config.Config, error) {
	cfg, err := config.Load(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		return cfg, err
	}
	if s, ok := servers[sub]; ok && s.check != nil {
		err = s.check(&cfg)
	}
	return cfg, err
}

// subcommands returns the subcommands the binary has, read from the map
// literal that func commands() in cmd/noderemover returns: the test cannot
// import package main, and building the binary is skipped under -short.
// TestDockerfileBuild checks the same names against the binary's usage.
func subcommands(tb testing.TB) map[string]bool {
	tb.Helper()
	dir := filepath.Join(repoRoot, "cmd", "noderemover")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		tb.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			tb.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "commands" || fn.Recv != nil || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				if _, ok := lit.Type.(*ast.MapType); !ok {
					return true
				}
				for _, elt := range lit.Elts {
					kv, ok := elt.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if key, ok := kv.Key.(*ast.BasicLit); ok && key.Kind == token.STRING {
						if s, err := strconv.Unquote(key.Value); err == nil {
							names[s] = true
						}
					}
				}
				return false
			})
		}
	}
	if len(names) == 0 {
		tb.Fatalf("found no map literal of subcommands in func commands() in %s; the deployment tests read the subcommands from there", dir)
	}
	return names
}

// decodeStrict decodes one YAML document into v, failing on duplicate keys,
// on fields v does not have and on values of the wrong type. It decodes as
// the Kubernetes API server does (sigs.k8s.io/json): field names are case
// sensitive, where encoding/json would take coolDownPeriod for cooldownPeriod.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	return errors.Join(append([]error{err}, strictErrs...)...)
}

// docSeparator is a line holding only "---".
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs splits a YAML stream into its documents, leaving out those that
// hold nothing but comments.
func splitDocs(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	var docs [][]byte
	for _, doc := range docSeparator.Split(string(data), -1) {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			tb.Fatalf("not YAML: %v", err)
		}
		if string(j) == "null" {
			continue
		}
		docs = append(docs, []byte(doc))
	}
	return docs
}

// checkKnown fails for every name config does not read: a misspelled
// variable would be ignored silently by the process.
func checkKnown(tb testing.TB, where string, names ...string) {
	tb.Helper()
	for _, n := range names {
		if !config.Known(n) {
			tb.Errorf("%s: %s is not a variable noderemover reads (config/vars.go)", where, n)
		}
	}
}

// isSecretVar reports whether config treats the variable as a secret.
func isSecretVar(name string) bool {
	for _, v := range config.Variables() {
		if v.Name == name {
			return v.Secret
		}
	}
	return false
}

// splitAddr splits a host:port the way the processes listen on it.
func splitAddr(tb testing.TB, addr string) (host string, port int) {
	tb.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("address %q: %v", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 {
		tb.Fatalf("address %q: port %q is not a fixed port", addr, p)
	}
	return host, port
}

// allInterfaces reports whether a listen host reaches beyond the container:
// probes and published ports arrive on the pod's or container's address.
func allInterfaces(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// isLoopback mirrors config's rule for DASHBOARD_ADDR.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDashboardAuth fails when the dashboard would listen beyond loopback
// without both DASHBOARD_USER and DASHBOARD_PASSWORD in its environment.
func checkDashboardAuth(tb testing.TB, where string, cfg config.Config, env map[string]string) {
	tb.Helper()
	host, _ := splitAddr(tb, cfg.DashboardAddr)
	if isLoopback(host) {
		return
	}
	for _, v := range []string{"DASHBOARD_USER", "DASHBOARD_PASSWORD"} {
		if strings.TrimSpace(env[v]) == "" {
			tb.Errorf("%s: the dashboard listens on %q (not loopback) but %s is not in its environment: it would refuse to start",
				where, cfg.DashboardAddr, v)
		}
	}
}
