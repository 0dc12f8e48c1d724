package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinDirNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(binEnv, dir)
	_, err := binDir()
	if err == nil || !strings.Contains(err.Error(), "no executable kube-apiserver") {
		t.Errorf("binDir with only etcd: %v", err)
	}
}

func TestStagesAreKwoks(t *testing.T) {
	path, err := writeStages(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"node-initialize", "node-heartbeat", "pod-ready", "pod-complete", "pod-delete"} {
		if !strings.Contains(string(raw), "name: "+stage+"\n") {
			t.Errorf("stages.yaml has no stage %s", stage)
		}
	}
}
