package asynqerr_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/internal/asynqerr"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestAsynqErrorWording provokes each error whose wording the code reads,
// from asynq itself: a task running when it is run again or deleted, a
// task pending when it is run, a task or queue that does not exist.
func TestAsynqErrorWording(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer insp.Close()

	if err := insp.RunTask("q", "nothing"); !asynqerr.NotFound(err) {
		t.Errorf("RunTask in a queue that does not exist: %v", err)
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q"), asynq.TaskID("pending")); err != nil {
		t.Fatal(err)
	}
	if err := insp.RunTask("q", "nothing"); !asynqerr.NotFound(err) {
		t.Errorf("RunTask of a task that does not exist: %v", err)
	}
	if err := insp.RunTask("q", "pending"); !asynqerr.Pending(err) || asynqerr.Running(err) {
		t.Errorf("RunTask of a pending task: %v", err)
	}

	started, release := make(chan struct{}), make(chan struct{})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, Queues: map[string]int{"q": 1},
		TaskCheckInterval: 50 * time.Millisecond, Logger: testkit.Quiet{}})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		close(started)
		<-release
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer close(release)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not start")
	}
	if err := insp.RunTask("q", "pending"); !asynqerr.Running(err) || asynqerr.Pending(err) {
		t.Errorf("RunTask of a running task: %v", err)
	}
	if err := insp.DeleteTask("q", "pending"); !asynqerr.Active(err) {
		t.Errorf("DeleteTask of a running task: %v", err)
	}
	if asynqerr.Running(nil) || asynqerr.Pending(nil) || asynqerr.Active(nil) || asynqerr.NotFound(nil) {
		t.Error("nil is an error")
	}
}
