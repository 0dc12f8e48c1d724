package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/noderemover/noderemover/enqueuer"
)

// The annotations the controller reads and writes on a Node.
const (
	// AnnRemove asks for the Node's removal: "true", or any other
	// generation token for a new ask (see RequestID).
	AnnRemove = "noderemover.io/remove"
	// AnnSSHKey names the key pair the reinstalled node gets; default
	// WATCH_SSH_KEY. There is no password annotation: an annotation is
	// readable by anyone who may get Nodes.
	AnnSSHKey = "noderemover.io/ssh-key"

	AnnDrain                   = "noderemover.io/drain" // "true" or "false"
	AnnDrainTimeout            = "noderemover.io/drain-timeout"
	AnnDrainOnTimeout          = "noderemover.io/drain-on-timeout"
	AnnDrainGracePeriod        = "noderemover.io/drain-grace-period"
	AnnDrainForce              = "noderemover.io/drain-force"
	AnnDrainDeleteEmptyDirData = "noderemover.io/drain-delete-emptydir-data"

	// The answer, written by the controller.
	AnnRequestID = "noderemover.io/request-id"
	AnnState     = "noderemover.io/state"
	AnnReason    = "noderemover.io/reason"
)

// States the controller writes besides a request's own.
const (
	// StateRefused: the ask could not become a request (bad annotation,
	// node not found in CCE, node busy in another request); the reason says why.
	StateRefused = "refused"
)

// generationPattern is what the remove annotation may hold.
var generationPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// generation reads the remove annotation: whether the Node is asked to
// go, and the ask's generation ("true" is "1").
func generation(v string, present bool) (gen string, asked bool, err error) {
	switch {
	case !present || v == "false":
		return "", false, nil
	case v == "true":
		return "1", true, nil
	case !generationPattern.MatchString(v):
		return "", false, fmt.Errorf("annotation %s %q is not \"true\", \"false\" or a generation (letters, digits, '.', '_', '-')", AnnRemove, v)
	}
	return v, true, nil
}

// RequestID is the request of one ask: the same cluster, Node and
// generation always give the same id, so however often and by however many
// replicas the ask is seen, the enqueuer makes one request of it.
func RequestID(clusterID, nodeUID, gen string) string {
	sum := sha256.Sum256([]byte(clusterID + "\x00" + nodeUID + "\x00" + gen))
	return "node-" + hex.EncodeToString(sum[:16])
}

// request is what the Node's annotations ask, for CCE node uid.
func (c *Controller) request(cl Cluster, n *corev1.Node, id, uid string) (enqueuer.Request, error) {
	ann := n.Annotations
	key := ann[AnnSSHKey]
	if key == "" {
		key = c.cfg.SSHKey
	}
	if key == "" {
		return enqueuer.Request{}, fmt.Errorf("no key pair: annotate %s or set WATCH_SSH_KEY", AnnSSHKey)
	}
	d, err := drainAsk(ann)
	if err != nil {
		return enqueuer.Request{}, err
	}
	return enqueuer.Request{ID: id, ProjectID: cl.ProjectID, ClusterID: cl.ClusterID, Region: cl.Region,
		Nodes: []string{uid}, SSHKey: key, Drain: d}, nil
}

// drainAsk reads the drain annotations; nil when there are none (the
// fleet's defaults apply).
func drainAsk(ann map[string]string) (*enqueuer.DrainOptions, error) {
	var d enqueuer.DrainOptions
	some := false
	boolean := func(name string, dst **bool) error {
		v, ok := ann[name]
		if !ok {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("annotation %s %q is not true or false", name, v)
		}
		*dst, some = &b, true
		return nil
	}
	duration := func(name string, dst **enqueuer.Duration) error {
		v, ok := ann[name]
		if !ok {
			return nil
		}
		t, err := time.ParseDuration(v)
		if err != nil || t < 0 {
			return fmt.Errorf("annotation %s %q is not a duration such as 10m", name, v)
		}
		dd := enqueuer.Duration(t)
		*dst, some = &dd, true
		return nil
	}
	for _, err := range []error{
		boolean(AnnDrain, &d.Enabled),
		boolean(AnnDrainForce, &d.Force),
		boolean(AnnDrainDeleteEmptyDirData, &d.DeleteEmptyDirData),
		duration(AnnDrainTimeout, &d.Timeout),
		duration(AnnDrainGracePeriod, &d.GracePeriod),
	} {
		if err != nil {
			return nil, err
		}
	}
	if v, ok := ann[AnnDrainOnTimeout]; ok {
		if v != enqueuer.OnTimeoutFail && v != enqueuer.OnTimeoutRemove {
			return nil, fmt.Errorf("annotation %s %q is not fail or remove", AnnDrainOnTimeout, v)
		}
		d.OnTimeout, some = &v, true
	}
	if !some {
		return nil, nil
	}
	return &d, nil
}
