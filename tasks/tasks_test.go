package tasks_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/tasks"
)

func TestRemoveNodesRoundTrip(t *testing.T) {
	p := tasks.RemoveNodes{RequestID: "r1", ProjectID: "p", ClusterID: "c", Nodes: []string{"n1", "n2"}}
	task, err := tasks.NewRemoveNodes(p)
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != "node:remove" {
		t.Fatalf("kind %q: the wire contract changed", task.Type())
	}
	got, err := tasks.DecodeRemoveNodes(task.Payload())
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("decoded %+v %v", got, err)
	}
}

func TestPollJobRoundTrip(t *testing.T) {
	p := tasks.PollJob{BatchID: "b", ProjectID: "p", ClusterID: "c", JobID: "j", RequestIDs: []string{"r"}, Poll: 3,
		AcceptedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	task, err := tasks.NewPollJob(p)
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != "node:remove:poll" {
		t.Fatalf("kind %q: the wire contract changed", task.Type())
	}
	got, err := tasks.DecodePollJob(task.Payload())
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("decoded %+v %v", got, err)
	}
}

func TestOldAndNewerPayloadsDecode(t *testing.T) {
	// A payload from a newer producer with a field we do not know yet.
	if _, err := tasks.DecodeRemoveNodes([]byte(`{"request_id":"r","project_id":"p","cluster_id":"c","nodes":["n"],"priority":5}`)); err != nil {
		t.Errorf("newer payload: %v", err)
	}
}

func TestBadPayloadsAreArchivedNotRetried(t *testing.T) {
	cases := map[string]string{
		"Empty":         ``,
		"Truncated":     `{"request_id":`,
		"WrongType":     `{"request_id":42}`,
		"NotAnObject":   `["r"]`,
		"MissingID":     `{"project_id":"p"}`,
		"TrailingData":  `{"request_id":"r"} {}`,
		"NullPayload":   `null`,
		"WrongNodeType": `{"request_id":"r","nodes":"n1"}`,
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tasks.DecodeRemoveNodes([]byte(raw))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, tasks.ErrBadPayload) || !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("error %v would be retried", err)
			}
			if !strings.Contains(err.Error(), "node:remove") {
				t.Errorf("error %v does not name the kind", err)
			}
		})
	}
	if _, err := tasks.DecodePollJob([]byte(`{"batch_id":"b","project_id":"p"}`)); err == nil || !strings.Contains(err.Error(), "job_id") {
		t.Errorf("poll without job id: %v", err)
	}
	if _, err := tasks.DecodePollJob([]byte(`{"batch_id":"b","project_id":"p","job_id":"j","poll":-1}`)); err == nil {
		t.Error("negative poll accepted")
	}
}

func FuzzDecodeRemoveNodes(f *testing.F) {
	f.Add([]byte(`{"request_id":"r","project_id":"p","cluster_id":"c","nodes":["n"]}`))
	f.Add([]byte(`{"request_id":""}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := tasks.DecodeRemoveNodes(raw)
		if err != nil {
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("decode error %v is retryable", err)
			}
			return
		}
		if p.RequestID == "" {
			t.Fatal("decoded a payload without request id")
		}
	})
}

func FuzzDecodePollJob(f *testing.F) {
	f.Add([]byte(`{"batch_id":"b","project_id":"p","cluster_id":"c","job_id":"j","request_ids":["r"],"poll":1,"accepted_at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"poll":-5}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := tasks.DecodePollJob(raw)
		if err != nil {
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("decode error %v is retryable", err)
			}
			return
		}
		if p.BatchID == "" || p.JobID == "" || p.ProjectID == "" || p.Poll < 0 {
			t.Fatalf("decoded an unusable payload %+v", p)
		}
	})
}

func FuzzDecodeUncordon(f *testing.F) {
	f.Add([]byte(`{"request_id":"r"}`))
	f.Add([]byte(`{"request_id":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := tasks.DecodeUncordon(raw)
		if err != nil {
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("decode error %v is retryable", err)
			}
			return
		}
		if p.RequestID == "" {
			t.Fatalf("decoded an unusable payload %+v", p)
		}
	})
}

func TestUncordonRoundTrip(t *testing.T) {
	task, err := tasks.NewUncordon(tasks.Uncordon{RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != tasks.TypeUncordon || tasks.UncordonTaskID("r1") != "uncordon:r1" {
		t.Fatalf("type %s", task.Type())
	}
	p, err := tasks.DecodeUncordon(task.Payload())
	if err != nil || p.RequestID != "r1" {
		t.Fatalf("%+v %v", p, err)
	}
}
