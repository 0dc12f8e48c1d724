package deployments

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerignore is a parsed .dockerignore: a path is excluded by the last
// pattern that matches it or one of its parent directories; `!` patterns
// include again. Patterns follow Docker's: `*` and `?` within one path
// element, `**` across any number.
type dockerignore struct {
	patterns   []ignorePattern
	exceptions bool
}

type ignorePattern struct {
	re     *regexp.Regexp
	negate bool
}

func loadDockerignore(tb testing.TB) dockerignore {
	tb.Helper()
	data, err := os.ReadFile(dockerignorePath)
	if err != nil {
		tb.Fatalf("%v (BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile)", err)
	}
	var ig dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.negate, line, ig.exceptions = true, rest, true
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		p.re = regexp.MustCompile(re.String())
		ig.patterns = append(ig.patterns, p)
	}
	return ig
}

// excludes reports whether the context leaves out rel (slash-separated,
// relative to the context root).
func (ig dockerignore) excludes(rel string) bool {
	excluded := false
	for _, p := range ig.patterns {
		for q := rel; ; {
			if p.re.MatchString(q) {
				excluded = !p.negate
				break
			}
			i := strings.LastIndexByte(q, '/')
			if i < 0 {
				break
			}
			q = q[:i]
		}
	}
	return excluded
}

// copyContext copies the repository into dst as Docker would send it as the
// build context. Files that vanish meanwhile (others edit the tree) are
// skipped.
func copyContext(tb testing.TB, ig dockerignore, dst string) {
	tb.Helper()
	err := filepath.WalkDir(repoRoot, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil || rel == "." {
			return err
		}
		if ig.excludes(filepath.ToSlash(rel)) {
			if e.IsDir() && !ig.exceptions {
				return filepath.SkipDir
			}
			if !e.IsDir() {
				return nil
			}
		}
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return ignoreGone(err)
			}
			return os.Symlink(link, target)
		case e.Type().IsRegular():
			return ignoreGone(copyFile(p, target))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("copy the build context: %v", err)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

func ignoreGone(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
