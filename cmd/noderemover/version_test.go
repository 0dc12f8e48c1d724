package main

import (
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runMain(t, nil, "", args...)
		if r.code != exitOK || strings.Count(r.stdout, "\n") != 1 || !regexp.MustCompile(`^noderemover \S+ revision \S+ go1\.\d+`).MatchString(r.stdout) {
			t.Errorf("%v: %+v", args, r)
		}
	}
	if r := runMain(t, nil, "", "version", "extra"); r.code != exitUsage {
		t.Errorf("stray argument: %+v", r)
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(info), "noderemover v1.2.3 revision abc123+modified go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
}
