package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEnqueueDrainFlags(t *testing.T) {
	env, srv := redisEnv(t)
	base := []string{"enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--ssh-key", "k"}
	run := func(extra ...string) result {
		return runMain(t, env, "", append(append([]string{}, base...), extra...)...)
	}

	if r := run("--drain"); r.code != exitUsage || !strings.Contains(r.stderr, "KUBE_ACCESS") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("--drain without Kubernetes access: %+v", r)
	}
	if ks := keys(t, srv); len(ks) != 0 {
		t.Errorf("a refused request wrote %v", ks)
	}
	for _, bad := range [][]string{{"--drain", "--no-drain"}, {"--no-drain", "--force"}, {"--drain-timeout", "soon"}} {
		if r := run(bad...); r.code != exitUsage {
			t.Errorf("%v: %+v", bad, r)
		}
	}

	env["KUBE_ACCESS"], env["KUBECONFIG_DIR"] = "dir", t.TempDir()
	r := run("--request-id", "flags", "--drain-timeout", "90s", "--drain-on-timeout", "remove", "--drain-grace-period", "5s", "--force")
	var st struct {
		State string `json:"state"`
		Drain *struct {
			Timeout     string `json:"timeout"`
			OnTimeout   string `json:"on_timeout"`
			GracePeriod string `json:"grace_period"`
			Force       bool   `json:"force"`
			EmptyDir    bool   `json:"delete_emptydir_data"`
		} `json:"drain"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Drain == nil {
		t.Fatalf("enqueue with drain flags: %+v", r)
	}
	if d := st.Drain; d.Timeout != "1m30s" || d.OnTimeout != "remove" || d.GracePeriod != "5s" || !d.Force || d.EmptyDir {
		t.Errorf("drain %+v", d)
	}
	if r := runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(2), "--ssh-key", "k", "--no-drain"); r.code != 0 ||
		strings.Contains(r.stdout, `"drain"`) {
		t.Errorf("--no-drain with DRAIN on by default: %+v", r)
	}
}

func TestPauseAndResume(t *testing.T) {
	env, _ := redisEnv(t)
	r := runMain(t, env, "", "pause", "--cluster-id", "c1")
	if r.code != 0 || !strings.Contains(r.stdout, `"c1"`) {
		t.Fatalf("pause: %+v", r)
	}
	r = runMain(t, env, "", "pause")
	if r.code != 0 || !strings.Contains(r.stdout, `"*"`) || !strings.Contains(r.stdout, `"c1"`) {
		t.Fatalf("pause all: %+v", r)
	}
	r = runMain(t, env, "", "resume")
	if r.code != 0 || strings.Contains(r.stdout, `"*"`) || !strings.Contains(r.stdout, `"c1"`) {
		t.Fatalf("resume all: %+v", r)
	}
	r = runMain(t, env, "", "resume", "--cluster-id", "c1")
	if r.code != 0 || r.stdout != "{\"paused\":{}}\n" {
		t.Fatalf("resume c1: %+v", r)
	}
	if r := runMain(t, env, "", "pause", "--cluster-id", "not/a/cluster"); r.code != exitUsage || !strings.Contains(r.stderr, "cluster_id") {
		t.Errorf("bad cluster id: %+v", r)
	}
}
