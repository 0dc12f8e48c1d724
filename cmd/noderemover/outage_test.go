package main

import (
	"strings"
	"testing"
)

// With Redis away, every command that needs it fails in one line saying
// Redis is unavailable and what was left behind, with exit code 1.
func TestCommandsWithRedisDown(t *testing.T) {
	env := map[string]string{"REDIS_URL": "redis://" + freeAddr(t) + "/0"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"enqueue", "--project-id", "0123456789abcdef0123456789abcdef", "--cluster-id", "c1",
			"--node", uid(1), "--ssh-key", "k"}, "redis unavailable (nothing was stored; enqueueing the same request id again is safe)"},
		{[]string{"status", "r1"}, "redis unavailable"},
		{[]string{"cancel", "r1"}, "redis unavailable (the request is as it was)"},
		{[]string{"list"}, "redis unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			r := runMain(t, env, "", tc.args...)
			if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("code %d stdout %q stderr %q; want 1, nothing on stdout and %q", r.code, r.stdout, r.stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}
