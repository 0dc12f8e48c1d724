package deployments

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/config"
)

const (
	dockerfilePath   = "docker/Dockerfile"
	dockerignorePath = "docker/Dockerfile.dockerignore"
)

func TestDockerfile(t *testing.T) {
	d := loadDockerfile(t)

	t.Run("MultiStage", func(t *testing.T) {
		if len(d.stages) < 2 {
			t.Fatalf("%d stage(s); want a builder and a minimal final stage", len(d.stages))
		}
		if d.builder.name == "" {
			t.Error("the builder stage has no name (FROM ... AS build); COPY --from should name it")
		}
	})

	t.Run("BuilderMatchesGoMod", func(t *testing.T) {
		want := "golang:" + goModVersion(t)
		if d.builder.from != want && !strings.HasPrefix(d.builder.from, want+"-") && !strings.HasPrefix(d.builder.from, want+".") {
			t.Errorf("builder FROM %s; want the official image of go.mod's Go, %s[-variant]", d.builder.from, want)
		}
		if strings.Contains(d.builder.from, "@") {
			t.Errorf("builder FROM %s: a tag, not a digest, keeps the Go patch releases coming", d.builder.from)
		}
	})

	t.Run("ModulesDownloadedBeforeSource", func(t *testing.T) {
		step := func(match func(instruction) bool) int {
			for i, in := range d.builderSteps {
				if match(in) {
					return i
				}
			}
			return -1
		}
		modCopy := step(func(in instruction) bool {
			if in.cmd != "COPY" {
				return false
			}
			_, srcs, _ := copyArgs(t, in)
			slices.Sort(srcs)
			return slices.Equal(srcs, []string{"go.mod", "go.sum"})
		})
		download := step(func(in instruction) bool {
			return in.cmd == "RUN" && strings.Contains(strings.Join(runWords(t, in), " "), "go mod download")
		})
		source := step(func(in instruction) bool {
			if in.cmd != "COPY" {
				return false
			}
			_, srcs, _ := copyArgs(t, in)
			return slices.Contains(srcs, ".")
		})
		build := step(func(in instruction) bool { return in.line == d.buildLine })
		switch {
		case modCopy < 0:
			t.Error("no `COPY go.mod go.sum ./` of the module files alone")
		case download < 0:
			t.Error("no RUN go mod download")
		case source < 0:
			t.Error("no `COPY . .` of the source")
		case !(modCopy < download && download < source && source < build):
			t.Errorf("order is COPY go.mod go.sum (step %d), go mod download (%d), COPY . . (%d), go build (%d); "+
				"want them in that order so a source change keeps the module layer", modCopy, download, source, build)
		}
	})

	t.Run("BuildCommandIsMakeBuild", func(t *testing.T) {
		mk := makeBuild(t)
		env := slices.Concat(d.stageEnv, d.build.env)
		if !slices.Equal(sortedCopy(env), sortedCopy(mk.env)) {
			t.Errorf("Dockerfile builds with %q; make build with %q", env, mk.env)
		}
		if got, want := d.build.withOut("BIN"), mk.withOut("BIN"); !slices.Equal(got, want) {
			t.Errorf("Dockerfile: go %s\nMakefile:   go %s\nwant the same command (but -o)", strings.Join(got, " "), strings.Join(want, " "))
		}
		if d.build.out == "" {
			t.Error("the go build has no -o")
		}
	})

	t.Run("FinalStage", func(t *testing.T) {
		if len(d.entrypoint) != 1 {
			t.Fatalf("ENTRYPOINT %q; want the binary alone, so the subcommand is the container's argument", d.entrypoint)
		}
		copied := false
		for _, in := range d.finalCopies {
			flags, srcs, dst := copyArgs(t, in)
			from := flags["from"]
			if from == d.builder.name && slices.Equal(srcs, []string{d.build.out}) &&
				(dst == d.entrypoint[0] || dst == filepath.Dir(d.entrypoint[0])+"/") {
				copied = true
			}
		}
		if !copied {
			t.Errorf("no COPY --from=%s %s %s: the ENTRYPOINT must be the binary the builder made", d.builder.name, d.build.out, d.entrypoint[0])
		}
		if len(d.finalCmds) > 0 {
			t.Errorf("line %d: CMD in the final stage: the image serves every subcommand, and the deployment names it", d.finalCmds[0].line)
		}
	})

	t.Run("NonRootUser", func(t *testing.T) {
		uid, ok := numericUser(d.user)
		switch {
		case d.user == "":
			t.Error("no USER in the final stage")
		case !ok:
			t.Errorf("USER %s: want numeric uid[:gid], so Kubernetes' runAsNonRoot can verify it", d.user)
		case uid == 0:
			t.Errorf("USER %s is root", d.user)
		}
	})

	t.Run("CACertificates", func(t *testing.T) {
		if strings.HasPrefix(d.final.from, "gcr.io/distroless/static") || strings.HasPrefix(d.final.from, "gcr.io/distroless/base") {
			return // distroless ships /etc/ssl/certs/ca-certificates.crt
		}
		for _, in := range d.finalCopies {
			if strings.Contains(in.args, "ca-certificates.crt") {
				return
			}
		}
		t.Errorf("final stage FROM %s has no CA certificates: CCE (https) and rediss:// need them; use distroless/static or copy /etc/ssl/certs/ca-certificates.crt", d.final.from)
	})

	t.Run("ExposesServedPorts", func(t *testing.T) {
		for _, v := range config.Variables() {
			for sub, s := range servers {
				if v.Name != s.addrVar {
					continue
				}
				_, port := splitAddr(t, v.Default)
				if !slices.Contains(d.exposed, port) {
					t.Errorf("EXPOSE %v lacks %d, the default %s of %s", d.exposed, port, v.Name, sub)
				}
			}
		}
	})

	t.Run("OCILabels", func(t *testing.T) {
		for _, k := range []string{"org.opencontainers.image.title", "org.opencontainers.image.description", "org.opencontainers.image.source"} {
			if d.labels[k] == "" {
				t.Errorf("no LABEL %s", k)
			}
		}
	})

	t.Run("DockerignoreKeepsTheBuildInputs", func(t *testing.T) {
		ig := loadDockerignore(t)
		for _, p := range []string{"go.mod", "go.sum", "cmd/noderemover/main.go", "config/config.go"} {
			if ig.excludes(p) {
				t.Errorf("%s excludes %s, which the build needs", dockerignorePath, p)
			}
		}
		for _, p := range []string{".git/HEAD", "bin/noderemover", "worker.test"} {
			if !ig.excludes(p) {
				t.Errorf("%s does not exclude %s", dockerignorePath, p)
			}
		}
	})
}

// TestDockerfileBuild runs the Dockerfile's go build on the files the Docker
// build would see (the context without what Dockerfile.dockerignore
// excludes) and checks the result is a static executable with the
// subcommands. Docker itself is not needed.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped under -short")
	}
	d := loadDockerfile(t)
	ctxDir := filepath.Join(t.TempDir(), "context")
	copyContext(t, loadDockerignore(t), ctxDir)
	bin := filepath.Join(t.TempDir(), "noderemover")

	cmd := exec.CommandContext(t.Context(), "go", d.build.withOut(bin)...)
	cmd.Dir = ctxDir
	cmd.Env = slices.Concat(os.Environ(), d.stageEnv, d.build.env) // later values win
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s (from %s line %d): %v\n%s", strings.Join(cmd.Args[1:], " "), dockerfilePath, d.buildLine, err, out)
	}

	t.Run("StaticELF", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("not an ELF file: %v", err)
		}
		defer f.Close()
		if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
			t.Errorf("ELF type %v; want an executable", f.Type)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("has a PT_INTERP program header: it needs a dynamic loader, which the final image does not have")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		if len(libs) > 0 {
			t.Errorf("needs shared libraries %v (DT_NEEDED)", libs)
		}
	})

	t.Run("HelpListsSubcommands", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		run := exec.CommandContext(t.Context(), bin, "help")
		run.Stdout, run.Stderr = &stdout, &stderr
		if err := run.Run(); err != nil {
			t.Fatalf("noderemover help: %v\n%s", err, stderr.Bytes())
		}
		out := stdout.String()
		if !strings.Contains(out, "Usage: noderemover") {
			t.Errorf("noderemover help printed no usage:\n%s", out)
		}
		listed := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
				listed[f[0]] = true
			}
		}
		subs := subcommands(t)
		for sub := range subs {
			if !listed[sub] {
				t.Errorf("the usage does not list %q, which cmd/noderemover's commands() has", sub)
			}
		}
		for sub := range listed {
			if !subs[sub] {
				t.Errorf("the usage lists %q, which the test did not find in commands()", sub)
			}
		}
	})
}

func numericUser(user string) (int, bool) {
	u, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(u)
	return n, err == nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
