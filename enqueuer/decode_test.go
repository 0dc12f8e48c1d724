package enqueuer_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/removal"
)

// FuzzDecodeRequest: any body either decodes, and then is JSON that
// encoding/json takes too, or is refused with an *removal.InvalidError.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		body(nil),
		body(map[string]any{"ssh_key": nil, "password": "Seed-Pa55word", "username": "root"}),
		`{"nodes":[1,2]}`, `{"password":"Seed-Pa55word"} x`, `[]`, `null`, `{"a":{"b":[`, `{"password":7}`,
		`{"nodes":["a"],"nodes":["b"]}`, "{\"\xff\":1}", ` `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := enqueuer.DecodeRequest(raw)
		if err != nil {
			var invalid *removal.InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		var std map[string]any
		if err := json.Unmarshal(raw, &std); err != nil {
			t.Fatalf("decoded %q, which encoding/json refuses: %v", raw, err)
		}
	})
}

// body is a valid request's JSON with changes (nil removes a member).
func body(changes map[string]any) string {
	m := map[string]any{"project_id": "p1", "cluster_id": "c1", "nodes": []string{"11111111-1111-4111-8111-111111111111"}, "ssh_key": "k"}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(raw)
}
