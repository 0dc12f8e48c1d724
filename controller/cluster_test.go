package controller_test

import (
	"strings"
	"testing"

	"github.com/noderemover/noderemover/controller"
)

func TestParseClusters(t *testing.T) {
	got, err := controller.ParseClusters(" p1/c1, p2/c-2 ,")
	if err != nil || len(got) != 2 || got[0] != (controller.Cluster{ProjectID: "p1", ClusterID: "c1"}) || got[1].ClusterID != "c-2" {
		t.Fatalf("%+v, %v", got, err)
	}
	for in, want := range map[string]string{
		"":        "names no cluster",
		"c1":      "not project_id/cluster_id",
		"p/":      "not project_id/cluster_id",
		"p/c/d":   "not project_id/cluster_id",
		"p!/c":    "project id",
		"p/c!":    "cluster_id",
		"p/c,q/c": "twice",
	} {
		_, err := controller.ParseClusters(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "WATCH_CLUSTERS") {
			t.Errorf("%q: %v, want an error naming WATCH_CLUSTERS saying %q", in, err, want)
		}
	}
}

func TestRequestIDIsDeterministic(t *testing.T) {
	a := controller.RequestID("c", "uid", "1")
	if a != controller.RequestID("c", "uid", "1") {
		t.Fatal("the same ask gave two ids")
	}
	for _, other := range []string{controller.RequestID("c", "uid", "2"), controller.RequestID("d", "uid", "1"), controller.RequestID("c", "uid2", "1")} {
		if other == a {
			t.Errorf("two asks share the id %s", a)
		}
	}
}
