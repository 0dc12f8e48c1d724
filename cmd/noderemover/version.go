package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/noderemover/noderemover/config"
)

func runVersion(_ context.Context, args []string, io stdio, _ config.Getenv) int {
	f := newFlags("version", io)
	short := f.Bool("short", false, "print the module version only")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if f.NArg() > 0 {
		return fail(io, exitUsage, "version: unexpected argument %q", f.Arg(0))
	}
	info, _ := debug.ReadBuildInfo()
	if *short {
		v := "(devel)"
		if info != nil && info.Main.Version != "" {
			v = info.Main.Version
		}
		fmt.Fprintln(io.out, v)
		return exitOK
	}
	fmt.Fprintln(io.out, versionLine(info))
	return exitOK
}

// versionLine is one line: the main module's version, the VCS revision
// (with +modified when the tree had changes) and the Go version.
func versionLine(info *debug.BuildInfo) string {
	if info == nil {
		return "noderemover (no build information)"
	}
	version, revision, modified := info.Main.Version, "unknown", ""
	if version == "" {
		version = "(devel)"
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			revision = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			modified = "+modified"
		}
	}
	return fmt.Sprintf("noderemover %s revision %s%s %s", version, revision, modified, info.GoVersion)
}
