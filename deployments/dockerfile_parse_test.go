package deployments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile reads the Dockerfile into its stages. It knows enough of
// the syntax for this repository's file: comments, parser directives,
// backslash continuations and instructions.
func parseDockerfile(tb testing.TB, path string) []stage {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var (
		stages []stage
		buf    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 1 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				tb.Fatalf("%s:%d: FROM %s: want IMAGE [AS NAME]", path, in.line, in.args)
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				tb.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			return
		}
		st := &stages[len(stages)-1]
		st.ins = append(st.ins, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && buf.Len() > 0) {
			continue // comments (directives included), and blank lines inside a continuation
		}
		if buf.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			buf.WriteString(body + " ")
			continue
		}
		buf.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	flush()
	if len(stages) == 0 {
		tb.Fatalf("%s: no FROM", path)
	}
	return stages
}

// goBuild is a `go build` command taken from a shell line.
type goBuild struct {
	env  []string // NAME=value assignments before the command
	args []string // after "go"
	out  string   // the -o argument
}

// withOut returns the arguments with -o's value replaced by out.
func (b goBuild) withOut(out string) []string {
	args := slices.Clone(b.args)
	for i, a := range args {
		switch {
		case a == "-o" && i+1 < len(args):
			args[i+1] = out
		case strings.HasPrefix(a, "-o="):
			args[i] = "-o=" + out
		}
	}
	return args
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// findGoBuild returns the `go build` command among the commands of a shell
// line (words split by shellWords).
func findGoBuild(words []string) (goBuild, bool) {
	var seg []string
	for i := 0; i <= len(words); i++ {
		if i < len(words) && !slices.Contains([]string{"&&", "||", ";", "|", "&"}, words[i]) {
			seg = append(seg, words[i])
			continue
		}
		var b goBuild
		j := 0
		for j < len(seg) && assignment.MatchString(seg[j]) {
			b.env = append(b.env, seg[j])
			j++
		}
		if len(seg)-j >= 2 && seg[j] == "go" && seg[j+1] == "build" {
			b.args = seg[j+1:]
			for k, a := range b.args {
				if a == "-o" && k+1 < len(b.args) {
					b.out = b.args[k+1]
				} else if v, ok := strings.CutPrefix(a, "-o="); ok {
					b.out = v
				}
			}
			return b, true
		}
		seg = nil
	}
	return goBuild{}, false
}

// shellWords splits a shell command into words, with the operators && || ;
// | & as words of their own; it honours quotes and backslashes. Enough for a
// Dockerfile RUN line, not a shell: it refuses `$` rather than expand it.
func shellWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '$' {
					return nil, errors.New("a variable ($) the test cannot expand")
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New(`unterminated "`)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '$' || c == '`':
			return nil, errors.New("a variable or substitution the test cannot expand")
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '&' || c == '|' || c == ';':
			flush()
			op := string(c)
			if c != ';' && i+1 < len(s) && s[i+1] == c {
				op += string(c)
				i++
			}
			words = append(words, op)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, nil
}

// runWords returns the shell words of a RUN instruction without its --flags
// (--mount=..., --network=...).
func runWords(tb testing.TB, in instruction) []string {
	tb.Helper()
	if strings.HasPrefix(in.args, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
			tb.Fatalf("line %d: RUN %s: %v", in.line, in.args, err)
		}
		return argv
	}
	words, err := shellWords(in.args)
	if err != nil {
		tb.Fatalf("line %d: RUN %s: %v", in.line, in.args, err)
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	return words
}

// dockerfile is the parsed Dockerfile with the instructions the checks use.
type dockerfile struct {
	stages       []stage
	builder      stage // the stage that runs go build
	final        stage
	build        goBuild
	buildLine    int
	stageEnv     []string // ENV of the builder stage before the build
	user         string
	entrypoint   []string
	exposed      []int
	labels       map[string]string
	finalCopies  []instruction
	finalCmds    []instruction
	builderSteps []instruction
}

// loadDockerfile parses the Dockerfile and finds its build step.
func loadDockerfile(tb testing.TB) dockerfile {
	tb.Helper()
	d := dockerfile{stages: parseDockerfile(tb, dockerfilePath), labels: map[string]string{}}
	d.final = d.stages[len(d.stages)-1]
	found := false
	for _, st := range d.stages[:len(d.stages)-1] {
		var env []string
		for _, in := range st.ins {
			switch in.cmd {
			case "ENV":
				words, err := shellWords(in.args)
				if err != nil {
					tb.Fatalf("line %d: ENV %s: %v", in.line, in.args, err)
				}
				for _, w := range words {
					if !assignment.MatchString(w) {
						tb.Fatalf("line %d: ENV %s: use the NAME=value form", in.line, in.args)
					}
				}
				env = append(env, words...)
			case "RUN":
				if b, ok := findGoBuild(runWords(tb, in)); ok {
					if found {
						tb.Fatalf("line %d: a second go build; the test expects one", in.line)
					}
					found = true
					d.builder, d.build, d.buildLine, d.stageEnv = st, b, in.line, slices.Clone(env)
				}
			}
		}
	}
	if !found {
		tb.Fatalf("%s: no RUN with `go build` in a stage before the last", dockerfilePath)
	}
	d.builderSteps = d.builder.ins
	for _, in := range d.final.ins {
		switch in.cmd {
		case "USER":
			d.user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &d.entrypoint); err != nil {
				tb.Errorf("line %d: ENTRYPOINT %s: use the exec form, [\"/noderemover\"]: %v", in.line, in.args, err)
			}
		case "EXPOSE":
			for _, f := range strings.Fields(in.args) {
				p, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
				if err != nil {
					tb.Errorf("line %d: EXPOSE %s: not a TCP port", in.line, f)
				}
				d.exposed = append(d.exposed, p)
			}
		case "LABEL":
			words, err := shellWords(in.args)
			if err != nil {
				tb.Fatalf("line %d: LABEL: %v", in.line, err)
			}
			for _, w := range words {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					tb.Fatalf("line %d: LABEL %s: use key=value", in.line, w)
				}
				d.labels[k] = v
			}
		case "COPY", "ADD":
			d.finalCopies = append(d.finalCopies, in)
		case "CMD":
			d.finalCmds = append(d.finalCmds, in)
		}
	}
	return d
}

// copyArgs splits COPY's arguments into --flags, sources and destination.
func copyArgs(tb testing.TB, in instruction) (flags map[string]string, srcs []string, dst string) {
	tb.Helper()
	flags = map[string]string{}
	words := strings.Fields(in.args)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
		flags[k] = v
		words = words[1:]
	}
	if len(words) < 2 {
		tb.Fatalf("line %d: %s %s: want SRC... DEST", in.line, in.cmd, in.args)
	}
	return flags, words[:len(words)-1], words[len(words)-1]
}

// makeBuild returns the `go build` of the Makefile's build target, with
// $(GO) as go and $(BIN) as the literal BIN.
func makeBuild(tb testing.TB) goBuild {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		tb.Fatal(err)
	}
	var recipe []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "build:"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimPrefix(line, "\t"))
		case in:
			in = false
		}
	}
	cmd := strings.NewReplacer("$(GO)", "go", "$(BIN)", "BIN").Replace(strings.Join(recipe, " ; "))
	words, err := shellWords(cmd)
	if err != nil {
		tb.Fatalf("Makefile build recipe %q: %v", cmd, err)
	}
	b, ok := findGoBuild(words)
	if !ok {
		tb.Fatalf("Makefile: no go build in the build target's recipe %q", cmd)
	}
	return b
}

// goModVersion returns the major.minor of go.mod's go line.
func goModVersion(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		tb.Fatal("go.mod has no go line")
	}
	return string(m[1])
}
