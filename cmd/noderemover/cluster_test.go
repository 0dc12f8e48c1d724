package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClusterGetAndSet(t *testing.T) {
	env, _ := redisEnv(t)
	env["CLUSTER_MAX_DISRUPTING"] = "3"
	r := runMain(t, env, "", "cluster", "get", "c1")
	if r.code != 0 || !strings.Contains(r.stdout, `"effective":{"max_disrupting":"3","min_nodes":1,"windows":[]}`) || !strings.Contains(r.stdout, `"paused":null`) {
		t.Fatalf("get: %+v", r)
	}
	r = runMain(t, env, "", "cluster", "set", "c1", "--max-disrupting", "20%", "--window", "0 2 * * 1-5 4h Europe/Berlin", "--window", "@daily 30m")
	var v struct {
		Settings struct {
			MaxDisrupting string                                      `json:"max_disrupting"`
			Windows       []struct{ Cron, Duration, TimeZone string } `json:"windows"`
		} `json:"settings"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Settings.MaxDisrupting != "20%" || len(v.Settings.Windows) != 2 {
		t.Fatalf("set: %+v", r)
	}
	// A flag not given leaves its setting; default takes it back to the fleet's.
	r = runMain(t, env, "", "cluster", "set", "c1", "--min-nodes", "4")
	if r.code != 0 || !strings.Contains(r.stdout, `"max_disrupting":"20%","min_nodes":4,"windows":[`) {
		t.Fatalf("set min: %+v", r)
	}
	r = runMain(t, env, "", "cluster", "set", "c1", "--max-disrupting", "default", "--no-windows")
	if r.code != 0 || !strings.Contains(r.stdout, `"settings":{"min_nodes":4}`) || !strings.Contains(r.stdout, `"effective":{"max_disrupting":"3","min_nodes":4,"windows":[]}`) {
		t.Fatalf("back to defaults: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "set", "c1", "--max-disrupting", "lots"}, "--max-disrupting"},
		{[]string{"cluster", "set", "c1", "--min-nodes", "-1"}, "--min-nodes"},
		{[]string{"cluster", "set", "c1", "--window", "0 2 * * *"}, "--window"},
		{[]string{"cluster", "set", "c1", "--window", "@daily 1h", "--no-windows"}, "together"},
		{[]string{"cluster", "set", "c1"}, "give --max-disrupting"},
		{[]string{"cluster", "get", "c1", "--min-nodes", "2"}, "takes no setting"},
		{[]string{"cluster", "get"}, "name the cluster"},
		{[]string{"cluster", "get", "not/a/cluster"}, "cluster_id"},
		{[]string{"cluster"}, "get CLUSTER_ID or set"},
	} {
		if r := runMain(t, env, "", tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %+v; want exit 2 saying %q", tc.args, r, tc.want)
		}
	}
	if r := runMain(t, env, "", "cluster", "get", "c1"); !strings.Contains(r.stdout, `"settings":{"min_nodes":4}`) {
		t.Errorf("a refused set changed something: %+v", r)
	}
}
