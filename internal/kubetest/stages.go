package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// kwokModule is the module whose stage files kwok is given; its version is
// the one tools/kwok pins.
const kwokModule = "sigs.k8s.io/kwok"

// stageDirs are the Stage resources kwok ships, as kwok's own "fast"
// clusters use them: Nodes go Ready at once and send heartbeats, Pods go
// Running at once and are deleted as soon as they are marked for deletion.
var stageDirs = []string{"kustomize/stage/node/fast", "kustomize/stage/node/heartbeat", "kustomize/stage/pod/fast"}

// defaultNodeIP is what kwok puts as InternalIP on a Node that has none;
// AddNode always gives one.
const defaultNodeIP = "10.255.255.254"

// writeStages writes kwok's stage configuration to dir/stages.yaml: the
// shipped stage files, one document each.
func writeStages(dir string) (string, error) {
	modDir, err := kwokDir()
	if err != nil {
		return "", err
	}
	var docs []string
	for _, d := range stageDirs {
		files, err := filepath.Glob(filepath.Join(modDir, d, "*.yaml"))
		if err != nil {
			return "", fmt.Errorf("kwok stages in %s: %w", d, err)
		}
		slices.Sort(files)
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("kwok stages: %w", err)
			}
			docs = append(docs, strings.TrimSpace(string(raw)))
		}
	}
	if len(docs) == 0 {
		return "", fmt.Errorf("kwok stages: no stage files under %s", modDir)
	}
	path := filepath.Join(dir, "stages.yaml")
	return path, writeFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"))
}

// kwokDir is the kwok module's directory in the module cache, downloading
// it when it is not there yet.
func kwokDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	modDir := filepath.Join(root, "tools", "kwok")
	if out, err := goCmd(modDir, "list", "-m", "-f", "{{.Dir}}", kwokModule); err == nil && out != "" {
		return out, nil
	}
	out, err := goCmd(modDir, "mod", "download", "-json", kwokModule)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": "`); ok {
			return strings.TrimSuffix(v, `",`), nil
		}
	}
	return "", fmt.Errorf("go mod download %s: no Dir in %s", kwokModule, out)
}

func goCmd(dir string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
