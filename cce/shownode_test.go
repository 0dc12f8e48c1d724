package cce_test

import (
	"testing"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

// TestShowNodeSeesError: ShowNode asks with errorStatus (signed with the
// rest of the query, for AK/SK), so a node in Error shows as Error, not as
// the Deleting CCE reports without it.
func TestShowNodeSeesError(t *testing.T) {
	for name, auth := range map[string]cce.Authenticator{
		"Token":  cce.TokenAuth{Token: "good-token"},
		"Signer": &cce.Signer{AK: "AK", SK: "SK", ProjectID: "proj"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := ccetest.NewServer(ccetest.Options{Token: "good-token", AK: "AK", SK: "SK"})
			defer srv.Close()
			srv.SetNodePhase("proj", "clus", "n1", cce.NodeError)
			node, err := newClient(t, srv.URL, auth).ShowNode(t.Context(), "proj", "clus", "n1")
			if err != nil || node.Status.Phase != cce.NodeError || node.Status.JobID == "" {
				t.Fatalf("ShowNode = %+v, %v; want Error with the node's last job", node, err)
			}
		})
	}
}

func TestJobIsRemoval(t *testing.T) {
	for typ, want := range map[string]bool{"RemoveNodes": true, "DeleteNode": true, "deleteNodes": true, "": true,
		"CreateNode": false, "UpgradeCluster": false, "ResetNode": false} {
		j := cce.Job{Spec: cce.JobSpec{Type: typ}}
		if got := j.IsRemoval(); got != want {
			t.Errorf("type %q: IsRemoval %v, want %v", typ, got, want)
		}
	}
}
