package enqueuer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
)

func TestDecodeDrain(t *testing.T) {
	r, err := enqueuer.DecodeRequest([]byte(body(map[string]any{"drain": map[string]any{
		"enabled": true, "timeout": "90s", "on_timeout": "remove", "grace_period": "5s", "delete_emptydir_data": true, "force": false}})))
	if err != nil {
		t.Fatal(err)
	}
	d := r.Drain
	if d == nil || !*d.Enabled || time.Duration(*d.Timeout) != 90*time.Second || *d.OnTimeout != "remove" ||
		time.Duration(*d.GracePeriod) != 5*time.Second || !*d.DeleteEmptyDirData || *d.Force {
		t.Fatalf("drain %+v", d)
	}
	for name, tc := range map[string]struct{ drain, field string }{
		"not an object":   {`"yes"`, "drain"},
		"unknown member":  {`{"timeout":"1m","evict":true}`, "drain.evict"},
		"wrong type":      {`{"enabled":"true"}`, "drain.enabled"},
		"null":            {`{"force":null}`, "drain.force"},
		"not a duration":  {`{"timeout":"ten minutes"}`, "drain.timeout"},
		"number duration": {`{"grace_period":30}`, "drain.grace_period"},
		"empty":           {`{"on_timeout":""}`, "drain.on_timeout"},
		"repeated":        {`{"force":true,"force":false}`, "drain.force"},
	} {
		raw := strings.TrimSuffix(body(nil), "}") + `,"drain":` + tc.drain + `}`
		_, err := enqueuer.DecodeRequest([]byte(raw))
		var inv *enqueuer.InvalidError
		if !errors.As(err, &inv) || inv.Field != tc.field {
			t.Errorf("%s: %v (want field %s)", name, err, tc.field)
		}
	}
}

func TestDrainNeedsKubeAccess(t *testing.T) {
	c, _ := newClient(t) // Options{}: no Kubernetes access
	on := true
	_, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "nd1", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k",
		Drain: &enqueuer.DrainOptions{Enabled: &on}})
	var inv *enqueuer.InvalidError
	if !errors.As(err, &inv) || inv.Field != "drain.enabled" || !strings.Contains(err.Error(), "KUBE_ACCESS") {
		t.Fatalf("drain without access: %v", err)
	}
	if _, err := c.Status(t.Context(), "nd1"); !errors.Is(err, enqueuer.ErrNotFound) {
		t.Errorf("an invalid request was stored: %v", err)
	}
	// Not asking for one is fine, and the record says nothing of a drain.
	st, err := c.Enqueue(t.Context(), enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"})
	if err != nil || st.Drain != nil {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestDrainDefaultsFillWhatIsLeftOut(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	grace := 20 * time.Second
	c := enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessDir, Enabled: true,
		Timeout: 3 * time.Minute, GracePeriod: &grace}})
	t.Cleanup(func() { _ = c.Close() })
	remove := enqueuer.OnTimeoutRemove
	st, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "d1", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(2)}, SSHKey: "k",
		Drain: &enqueuer.DrainOptions{OnTimeout: &remove}})
	if err != nil {
		t.Fatal(err)
	}
	d := st.Drain
	if d == nil || time.Duration(d.Timeout) != 3*time.Minute || d.OnTimeout != "remove" || time.Duration(*d.GracePeriod) != grace {
		t.Fatalf("drain %+v", d)
	}
	off := false
	st, err = c.Enqueue(t.Context(), enqueuer.Request{ID: "d2", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(3)}, SSHKey: "k",
		Drain: &enqueuer.DrainOptions{Enabled: &off}})
	if err != nil || st.Drain != nil {
		t.Fatalf("drain off: %+v %v", st.Drain, err)
	}
	// The same request again is the same removal; with other drain settings it is another request.
	if _, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "d1", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(2)}, SSHKey: "k",
		Drain: &enqueuer.DrainOptions{OnTimeout: &remove}}); err != nil {
		t.Errorf("same request again: %v", err)
	}
	if _, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "d1", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(2)}, SSHKey: "k"}); !errors.Is(err, enqueuer.ErrConflict) {
		t.Errorf("same id, other drain: %v", err)
	}
}
