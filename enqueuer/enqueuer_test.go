package enqueuer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

func uid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func newClient(tb testing.TB) (*enqueuer.Client, *redis.Client) {
	tb.Helper()
	rdb := redistest.Start(tb, redistest.Options{}).Client(tb)
	c := enqueuer.New(rdb, enqueuer.Options{})
	tb.Cleanup(func() { _ = c.Close() })
	return c, rdb
}

func pending(tb testing.TB, rdb *redis.Client) []*asynq.TaskInfo {
	tb.Helper()
	i := asynq.NewInspectorFromRedisClient(rdb)
	defer i.Close()
	tasks, err := i.ListPendingTasks(tasks.Queue)
	if err != nil && !strings.Contains(err.Error(), "does not exist") {
		tb.Fatal(err)
	}
	return tasks
}

func TestEnqueueThenStatus(t *testing.T) {
	c, rdb := newClient(t)
	ctx := t.Context()
	st, err := c.Enqueue(ctx, enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{strings.ToUpper(uid(1))}, SSHKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if st.RequestID == "" || st.State != removal.StateQueued || st.Nodes[0].UID != uid(1) || st.Nodes[0].State != removal.NodePending {
		t.Fatalf("status %+v", st)
	}
	got, err := c.Status(ctx, st.RequestID)
	if err != nil || got.RequestID != st.RequestID {
		t.Fatalf("status %+v %v", got, err)
	}
	tasks := pending(t, rdb)
	if len(tasks) != 1 || tasks[0].Type != "node:remove" || !strings.Contains(string(tasks[0].Payload), st.RequestID) {
		t.Fatalf("queued tasks %+v", tasks)
	}
	if _, err := c.Status(ctx, "never-enqueued"); !errors.Is(err, enqueuer.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestSameRequestIDIsOneRemoval(t *testing.T) {
	c, rdb := newClient(t)
	ctx := t.Context()
	r := enqueuer.Request{ID: "once", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, Password: "Pa55word!", Username: "admin"}
	for range 3 {
		if _, err := c.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(pending(t, rdb)); n != 1 {
		t.Fatalf("%d tasks for one request", n)
	}
	r.Nodes = []string{uid(2)}
	if _, err := c.Enqueue(ctx, r); !errors.Is(err, enqueuer.ErrConflict) {
		t.Fatalf("same id, other nodes: %v", err)
	}
}

func TestNodeBusyNamesTheRequest(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.Enqueue(ctx, enqueuer.Request{ID: "holder", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1), uid(2)}, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Enqueue(ctx, enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(2)}, SSHKey: "k"})
	if !errors.Is(err, enqueuer.ErrNodeBusy) || !strings.Contains(err.Error(), "holder") {
		t.Fatalf("error %v, want node busy naming holder", err)
	}
}

func TestInvalidRequestTouchesNothing(t *testing.T) {
	c, rdb := newClient(t)
	cases := map[string]enqueuer.Request{
		"NoProject":   {ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"},
		"NoNodes":     {ProjectID: "p", ClusterID: "c", SSHKey: "k"},
		"BadUID":      {ProjectID: "p", ClusterID: "c", Nodes: []string{"i-abc"}, SSHKey: "k"},
		"Duplicate":   {ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1), uid(1)}, SSHKey: "k"},
		"BothLogins":  {ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k", Password: "x"},
		"NoLogin":     {ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}},
		"UserWithKey": {ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k", Username: "root"},
		"BadID":       {ID: "has space", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Enqueue(t.Context(), r); !errors.Is(err, enqueuer.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
	if n, _ := rdb.DBSize(t.Context()).Result(); n != 0 {
		t.Fatalf("%d keys written by invalid requests", n)
	}
}

func TestEnqueueAllIsAllOrNothingOnValidation(t *testing.T) {
	c, rdb := newClient(t)
	rs := []enqueuer.Request{
		{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"},
		{ProjectID: "p", ClusterID: "c", Nodes: nil, SSHKey: "k"},
	}
	if _, err := c.EnqueueAll(t.Context(), rs); !errors.Is(err, enqueuer.ErrInvalid) || !strings.HasPrefix(err.Error(), "request 2:") {
		t.Fatalf("error %v", err)
	}
	if n, _ := rdb.DBSize(t.Context()).Result(); n != 0 {
		t.Fatalf("%d keys written", n)
	}
	rs[1].Nodes = []string{uid(2)}
	sts, err := c.EnqueueAll(t.Context(), rs)
	if err != nil || len(sts) != 2 {
		t.Fatalf("%+v %v", sts, err)
	}
}

func TestPasswordNeverStoredInPlaintext(t *testing.T) {
	c, rdb := newClient(t)
	ctx := t.Context()
	const password = "Plain-Text-Pa55"
	if _, err := c.Enqueue(ctx, enqueuer.Request{ID: "pw", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, Password: password}); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(dump, password) {
			t.Errorf("key %s holds the plaintext password", k)
		}
	}
	st, _ := c.Status(ctx, "pw")
	if strings.Contains(fmt.Sprintf("%+v", st), "$6$") {
		t.Error("status shows the hash")
	}
	r := enqueuer.Request{Password: password}
	for _, s := range []string{r.String(), fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r)} {
		if strings.Contains(s, password) {
			t.Errorf("a printed Request shows the password: %s", s)
		}
	}
}

func TestPrepareHashesWithDefaultUser(t *testing.T) {
	req, err := enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, Password: "Pa55word!"}.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	if req.Login.Username != "root" || !removal.VerifyPassword(req.Login.PasswordHash, "Pa55word!") {
		t.Fatalf("login %+v", req.Login)
	}
}

// CCE cannot check a hash, so a password it would refuse is refused before
// hashing, by the field's name, and the user name it must not contain is the
// request's.
func TestPrepareRefusesPasswordsCCERefuses(t *testing.T) {
	cases := map[string]enqueuer.Request{
		"OneCharacter":     {Password: "a"},
		"TwoKinds":         {Password: "password12"},
		"HoldsDefaultUser": {Password: "My-root-Pa55"},
		"HoldsUser":        {Password: "Admin-Pa55word", Username: "admin"},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			r.ProjectID, r.ClusterID, r.Nodes = "p", "c", []string{uid(1)}
			_, err := r.Prepare()
			var invalid *removal.InvalidError
			if !errors.As(err, &invalid) || invalid.Field != "password" {
				t.Fatalf("error %v, want an InvalidError for password", err)
			}
		})
	}
	r := enqueuer.Request{ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, Password: "My-root-Pa55", Username: "admin"}
	if _, err := r.Prepare(); err != nil {
		t.Errorf("root in the password of admin: %v", err)
	}
}

func TestCancelRemovesTheTask(t *testing.T) {
	c, rdb := newClient(t)
	ctx := t.Context()
	if _, err := c.Enqueue(ctx, enqueuer.Request{ID: "doomed", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Cancel(ctx, "doomed")
	if err != nil || st.State != removal.StateCancelled {
		t.Fatalf("%+v %v", st, err)
	}
	if n := len(pending(t, rdb)); n != 0 {
		t.Fatalf("%d tasks left after cancel", n)
	}
	if _, err := c.Cancel(ctx, "never"); !errors.Is(err, enqueuer.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestListValidatesItsFilter(t *testing.T) {
	c, _ := newClient(t)
	if _, err := c.List(t.Context(), enqueuer.ListFilter{State: "running"}); !errors.Is(err, enqueuer.ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if _, err := c.List(t.Context(), enqueuer.ListFilter{Limit: 5000}); !errors.Is(err, enqueuer.ErrInvalid) {
		t.Errorf("bad limit: %v", err)
	}
	if got, err := c.List(t.Context(), enqueuer.ListFilter{}); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v %v", got, err)
	}
}
