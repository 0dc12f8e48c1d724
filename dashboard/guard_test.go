package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/dashboard"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/asynqerr"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

const project = "0123456789abcdef0123456789abcdef"

// guarded is a dashboard with the product behind it, and no worker: what
// the dashboard does is all that happens.
type guarded struct {
	tb    testing.TB
	url   string
	enq   *enqueuer.Client
	store *store.Store
	insp  *asynq.Inspector
	queue *asynq.Client
	n     int
}

func newGuarded(tb testing.TB) *guarded {
	tb.Helper()
	srv := redistest.Start(tb, redistest.Options{})
	rdb := srv.Client(tb)
	opt, err := asynq.ParseRedisURI(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	g := &guarded{tb: tb, enq: enqueuer.New(rdb, enqueuer.Options{}), store: store.New(rdb, store.Options{}),
		insp: asynq.NewInspectorFromRedisClient(rdb), queue: asynq.NewClientFromRedisClient(rdb)}
	tb.Cleanup(func() { _ = g.enq.Close(); _ = g.insp.Close(); _ = g.queue.Close() })
	h := dashboard.New(dashboard.Options{Redis: opt, User: "ops", Password: "s3cret", Requests: g.enq,
		Ready: func() error { return nil }})
	tb.Cleanup(func() { _ = h.Close() })
	hs := httptest.NewServer(h)
	tb.Cleanup(hs.Close)
	g.url = hs.URL
	return g
}

// request enqueues a one-node request of cluster c1 and returns its id.
func (g *guarded) request(id string) string {
	g.tb.Helper()
	g.n++
	node := "6f3c4a2e-1b7d-4c8e-9f00-" + strings.Repeat("0", 10) + string(rune('a'+g.n/26)) + string(rune('a'+g.n%26))
	if _, err := g.enq.Enqueue(context.Background(), enqueuer.Request{ID: id, ProjectID: project, ClusterID: "c1",
		Nodes: []string{node}, SSHKey: "kp"}); err != nil {
		g.tb.Fatal(err)
	}
	return id
}

// accepted moves queued request id into a batch CCE accepted as job.
func (g *guarded) accepted(id, job string) {
	g.tb.Helper()
	b := storetest.Form(g.tb, g.store, time.Now().Add(time.Minute), id)
	if _, err := g.store.Step(context.Background(), b, removal.EventAccepted, removal.Input{Now: time.Now(), JobID: job}); err != nil {
		g.tb.Fatal(err)
	}
}

func (g *guarded) do(method, path, body string) (int, string) {
	g.tb.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	req.SetBasicAuth("ops", "s3cret")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *guarded) state(id string) removal.State {
	g.tb.Helper()
	st, err := g.enq.Status(context.Background(), id)
	if err != nil {
		g.tb.Fatal(err)
	}
	return st.State
}

// gone reports whether task id is no longer in the queue.
func (g *guarded) gone(id string) bool {
	_, err := g.insp.GetTaskInfo(tasks.Queue, id)
	return asynqerr.NotFound(err)
}

const api = "/api/queues/" + tasks.Queue

// TestDeleteOrArchiveCancels: every way asynqmon has to delete or archive a
// removal's task cancels the request, as noderemover cancel does, so that
// neither the orphan sweep nor a wake-up carries it on: the record says
// cancelled and the task is gone.
func TestDeleteOrArchiveCancels(t *testing.T) {
	cases := []struct {
		name      string
		archiveIt bool // archive the task first, as asynqmon did before the guard
		method    string
		path      func(task string) string
		body      func(task string) string
	}{
		{"DeletePending", false, "DELETE", func(id string) string { return api + "/pending_tasks/" + id }, nil},
		{"ArchivePending", false, "POST", func(id string) string { return api + "/pending_tasks/" + id + ":archive" }, nil},
		{"DeleteArchived", true, "DELETE", func(id string) string { return api + "/archived_tasks/" + id }, nil},
		{"BatchDelete", false, "POST", func(string) string { return api + "/pending_tasks:batch_delete" }, batchBody},
		{"BatchArchive", false, "POST", func(string) string { return api + "/pending_tasks:batch_archive" }, batchBody},
		{"DeleteAllPending", false, "DELETE", func(string) string { return api + "/pending_tasks:delete_all" }, nil},
		{"ArchiveAllPending", false, "POST", func(string) string { return api + "/pending_tasks:archive_all" }, nil},
		{"DeleteAllArchived", true, "DELETE", func(string) string { return api + "/archived_tasks:delete_all" }, nil},
		{"BatchDeleteArchived", true, "POST", func(string) string { return api + "/archived_tasks:batch_delete" }, batchBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuarded(t)
			id := g.request("third-c")
			task := tasks.RemoveNodesTaskID(id)
			if tc.archiveIt {
				if err := g.insp.ArchiveTask(tasks.Queue, task); err != nil {
					t.Fatal(err)
				}
			}
			body := ""
			if tc.body != nil {
				body = tc.body(task)
			}
			code, resp := g.do(tc.method, tc.path(task), body)
			if code/100 != 2 {
				t.Fatalf("%d %s", code, resp)
			}
			if s := g.state(id); s != removal.StateCancelled {
				t.Errorf("the dashboard answered %d, but the request is %s, not cancelled", code, s)
			}
			if !g.gone(task) {
				t.Errorf("the task of a cancelled request is still there")
			}
			// Its node is free: another request may take it.
			st, _ := g.enq.Status(context.Background(), id)
			if _, err := g.enq.Enqueue(context.Background(), enqueuer.Request{ID: "again", ProjectID: project, ClusterID: "c1",
				Nodes: []string{st.Nodes[0].UID}, SSHKey: "kp"}); err != nil {
				t.Errorf("the node is still claimed: %v", err)
			}
		})
	}
}

func batchBody(task string) string { return `{"task_ids":["` + task + `"]}` }

// TestAcceptedIsRefused: once CCE accepted a request's call there is nothing
// to cancel; the dashboard says so (409, naming the job) and the task stays.
// In a batch, the cancellable ones are cancelled and the refused one is in
// failed_ids, with why.
func TestAcceptedIsRefused(t *testing.T) {
	g := newGuarded(t)
	running := g.request("running")
	g.accepted(running, "job-42")
	if s := g.state(running); s != removal.StatePolling {
		t.Fatalf("set-up: %s", s)
	}
	task := tasks.RemoveNodesTaskID(running)
	for name, call := range map[string][2]string{
		"Delete":  {"DELETE", api + "/pending_tasks/" + task},
		"Archive": {"POST", api + "/pending_tasks/" + task + ":archive"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := g.do(call[0], call[1], "")
			if code != http.StatusConflict || !strings.Contains(body, "CCE accepted") || !strings.Contains(body, "job-42") {
				t.Errorf("%d %q, want 409 saying CCE accepted job-42", code, body)
			}
			if s := g.state(running); s != removal.StatePolling {
				t.Errorf("request %s", s)
			}
			if g.gone(task) {
				t.Errorf("the task was removed")
			}
		})
	}
	t.Run("Batch", func(t *testing.T) {
		queued := g.request("queued")
		code, body := g.do("POST", api+"/pending_tasks:batch_delete",
			`{"task_ids":["`+task+`","`+tasks.RemoveNodesTaskID(queued)+`"]}`)
		var resp struct {
			Deleted []string          `json:"deleted_ids"`
			Failed  []string          `json:"failed_ids"`
			Refused map[string]string `json:"refused"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &resp) != nil {
			t.Fatalf("%d %s", code, body)
		}
		if len(resp.Deleted) != 1 || resp.Deleted[0] != tasks.RemoveNodesTaskID(queued) ||
			len(resp.Failed) != 1 || !strings.Contains(resp.Refused[task], "CCE accepted") {
			t.Errorf("%s", body)
		}
		if g.state(queued) != removal.StateCancelled || g.state(running) != removal.StatePolling {
			t.Errorf("queued %s, running %s", g.state(queued), g.state(running))
		}
	})
	t.Run("All", func(t *testing.T) {
		code, body := g.do("DELETE", api+"/pending_tasks:delete_all", "")
		if code != 200 || !strings.Contains(body, `"deleted":0`) || !strings.Contains(body, "CCE accepted") {
			t.Errorf("%d %s", code, body)
		}
		if g.gone(task) {
			t.Errorf("delete-all removed the task of a request CCE runs")
		}
	})
}

// TestPollAndUncordonAreKept: a poll task of a running job and an uncordon
// task cannot be deleted or archived (that would leave requests polling for
// ever, or Nodes cordoned); a poll task whose requests are all final can.
func TestPollAndUncordonAreKept(t *testing.T) {
	g := newGuarded(t)
	running := g.request("polled")
	g.accepted(running, "job-7")
	enqueue := func(task *asynq.Task, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		info, err := g.queue.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	poll := enqueue(tasks.NewPollJob(tasks.PollJob{BatchID: "b1", ProjectID: project, ClusterID: "c1", JobID: "job-7",
		RequestIDs: []string{running}, Poll: 3}))
	uncordon := enqueue(tasks.NewUncordon(tasks.Uncordon{RequestID: running}))
	for _, task := range []string{poll, uncordon} {
		for _, call := range [][2]string{{"DELETE", api + "/pending_tasks/" + task}, {"POST", api + "/pending_tasks/" + task + ":archive"}} {
			if code, body := g.do(call[0], call[1], ""); code != http.StatusConflict || !strings.Contains(body, "let it run") {
				t.Errorf("%s %s: %d %q, want 409 saying why", call[0], call[1], code, body)
			}
		}
		if g.gone(task) {
			t.Errorf("%s was removed", task)
		}
	}
	code, body := g.do("POST", api+"/pending_tasks:archive_all", "")
	if code != 200 || !strings.Contains(body, `"archived":0`) {
		t.Errorf("archive-all: %d %s", code, body)
	}

	done := g.request("done")
	if _, err := g.enq.Cancel(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	old := enqueue(tasks.NewPollJob(tasks.PollJob{BatchID: "b0", ProjectID: project, ClusterID: "c1", JobID: "job-1",
		RequestIDs: []string{done}, Poll: 1}))
	if code, body := g.do("DELETE", api+"/pending_tasks/"+old, ""); code != http.StatusNoContent || !g.gone(old) {
		t.Errorf("a poll of requests that are all final: %d %q, want it deleted", code, body)
	}
}

// TestFinalRequestsTaskPassesThrough: the archived task of a request that
// ended is the operator's to delete; nothing runs it again.
func TestFinalRequestsTaskPassesThrough(t *testing.T) {
	g := newGuarded(t)
	id := g.request("ended")
	task := tasks.RemoveNodesTaskID(id)
	if err := g.insp.ArchiveTask(tasks.Queue, task); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.store.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, body := g.do("DELETE", api+"/archived_tasks/"+task, ""); code != http.StatusNoContent || !g.gone(task) {
		t.Errorf("%d %q", code, body)
	}
}
