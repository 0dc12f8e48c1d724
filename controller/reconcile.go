package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/drain"
)

var everything = labels.Everything()

// The reasons of the Events the controller records on a Node.
const (
	EventRequested    = "RemovalRequested"
	EventRefused      = "RemovalRefused"
	EventNotCancelled = "RemovalNotCancelled"
	eventStatePrefix  = "Removal" // + the state: RemovalSucceeded, RemovalFailed, ...
	EventRemovalWaits = "RemovalWaiting"
)

// reconcile makes Node name's request and annotations agree with its ask.
// It is safe to repeat: every step reads what is there first.
func (c *Controller) reconcile(ctx context.Context, w *watch, name string) error {
	n, err := w.lister.Get(name)
	if apierrors.IsNotFound(err) {
		// Removed: CCE took it out of the cluster, or someone deleted it.
		w.mu.Lock()
		delete(w.written, name)
		for id, node := range w.requests {
			if node == name {
				delete(w.requests, id)
			}
		}
		w.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	ann := n.Annotations
	v, present := ann[AnnRemove]
	gen, asked, err := generation(v, present)
	if err != nil {
		return c.refuse(ctx, w, n, "", err.Error())
	}
	current := ann[AnnRequestID]
	if !asked {
		if current == "" {
			return nil
		}
		return c.withdraw(ctx, w, n, current)
	}
	id := RequestID(w.cl.ClusterID, string(n.UID), gen)
	w.track(id, n.Name)
	if current == id {
		return c.sync(ctx, w, n, id)
	}
	if ann[AnnState] == StateRefused && ann[AnnRequestID] == "" && ann[annRefusedAsk] == v {
		return nil // refused already; a changed annotation is a new try
	}
	uid, err := c.cceNode(ctx, w.cl, n)
	if err != nil {
		var nf *notFound
		if errors.As(err, &nf) {
			return c.refuse(ctx, w, n, v, err.Error())
		}
		return err
	}
	req, err := c.request(w.cl, n, id, uid)
	if err != nil {
		return c.refuse(ctx, w, n, v, err.Error())
	}
	prepared, err := c.enq.Prepare(req)
	if err != nil {
		return c.refuse(ctx, w, n, v, err.Error())
	}
	st, created, err := c.enq.EnqueuePrepared(ctx, prepared)
	switch {
	case errors.Is(err, enqueuer.ErrInvalid), errors.Is(err, enqueuer.ErrNodeBusy), errors.Is(err, enqueuer.ErrConflict):
		return c.refuse(ctx, w, n, v, err.Error())
	case err != nil:
		return fmt.Errorf("enqueue the removal of node %s: %w", n.Name, err)
	}
	if created { // not when another replica, or this one before a restart, made it
		w.log.Info().Str("request_id", id).Str("node", n.Name).Str("node_uid", uid).Msg("removal requested")
		c.event(ctx, w, n, corev1.EventTypeNormal, EventRequested, fmt.Sprintf("request %s for CCE node %s", id, uid))
	}
	return c.answer(ctx, w, n, id, st)
}

// annRefusedAsk remembers which ask was refused, so that a resync does not
// refuse it again and again (with an Event each time).
const annRefusedAsk = "noderemover.io/refused-ask"

// refuse writes why the ask could not become a request.
func (c *Controller) refuse(ctx context.Context, w *watch, n *corev1.Node, ask, why string) error {
	if n.Annotations[AnnState] == StateRefused && n.Annotations[AnnReason] == why {
		return nil
	}
	c.event(ctx, w, n, corev1.EventTypeWarning, EventRefused, why)
	return c.patch(ctx, w, n, map[string]*string{AnnRequestID: nil, AnnState: ptr(StateRefused), AnnReason: ptr(why), annRefusedAsk: ptr(ask)})
}

// withdraw cancels the request of an ask taken back, when it can be.
func (c *Controller) withdraw(ctx context.Context, w *watch, n *corev1.Node, id string) error {
	if enqueuer.State(n.Annotations[AnnState]).Final() {
		return nil
	}
	c.mu.Lock()
	refused := c.refusals[id]
	c.mu.Unlock()
	if refused {
		return c.sync(ctx, w, n, id) // it goes on: follow it to its end
	}
	st, err := c.enq.Cancel(ctx, id)
	switch {
	case errors.Is(err, enqueuer.ErrNotCancellable):
		c.mu.Lock()
		c.refusals[id] = true
		c.mu.Unlock()
		c.event(ctx, w, n, corev1.EventTypeWarning, EventNotCancelled,
			fmt.Sprintf("the annotation %s was removed, but CCE has accepted the removal already and it cannot be stopped: %v", AnnRemove, err))
		return c.sync(ctx, w, n, id)
	case errors.Is(err, enqueuer.ErrNotFound):
		return c.patch(ctx, w, n, map[string]*string{AnnState: ptr(string(enqueuer.StateCancelled)), AnnReason: ptr("the request is not known any more")})
	case err != nil:
		return fmt.Errorf("cancel request %s of node %s: %w", id, n.Name, err)
	}
	w.log.Info().Str("request_id", id).Str("node", n.Name).Msg("removal cancelled: the annotation was removed")
	return c.answer(ctx, w, n, id, st)
}

// sync reads the request's status and writes it onto the Node.
func (c *Controller) sync(ctx context.Context, w *watch, n *corev1.Node, id string) error {
	if enqueuer.State(n.Annotations[AnnState]).Final() {
		return nil
	}
	st, err := c.enq.Status(ctx, id)
	if errors.Is(err, enqueuer.ErrNotFound) {
		return c.patch(ctx, w, n, map[string]*string{AnnState: ptr(string(enqueuer.StateFailed)), AnnReason: ptr("the request is not known any more (expired from Redis)")})
	}
	if err != nil {
		return fmt.Errorf("status of request %s: %w", id, err)
	}
	return c.answer(ctx, w, n, id, st)
}

// answer writes st onto the Node, with an Event when it moved on.
func (c *Controller) answer(ctx context.Context, w *watch, n *corev1.Node, id string, st enqueuer.Status) error {
	state, reason := string(st.State), reasonOf(st)
	ann := n.Annotations
	if ann[AnnRequestID] == id && ann[AnnState] == state && ann[AnnReason] == reason {
		return nil
	}
	// The informer's copy may not have the last patch yet: what this
	// controller wrote last counts as written.
	now := written{id, state, reason}
	if last, ok := w.lastWritten(n.Name); ok && last == now {
		return nil
	}
	if last, ok := w.lastWritten(n.Name); ok && last.id == id {
		ann = map[string]string{AnnRequestID: last.id, AnnState: last.state, AnnReason: last.reason}
	}
	typ := corev1.EventTypeNormal
	if st.State == enqueuer.StateFailed {
		typ = corev1.EventTypeWarning
	}
	switch {
	case ann[AnnState] != state || ann[AnnRequestID] != id:
		msg := fmt.Sprintf("request %s is %s", id, state)
		if reason != "" {
			msg += ": " + reason
		}
		c.event(ctx, w, n, typ, eventStatePrefix+title(state), msg)
	case st.Waiting != "":
		c.event(ctx, w, n, typ, EventRemovalWaits, reason)
	}
	if st.State.Final() {
		w.mu.Lock()
		delete(w.requests, id)
		w.mu.Unlock()
	}
	if err := c.patch(ctx, w, n, map[string]*string{AnnRequestID: &id, AnnState: &state, AnnReason: &reason, annRefusedAsk: nil}); err != nil {
		return err
	}
	w.wrote(n.Name, now)
	return nil
}

// reasonOf is what the status says about why the request stands where it
// does: its wait, its node's reason, or its error.
func reasonOf(st enqueuer.Status) string {
	if st.Waiting != "" && !st.State.Final() {
		return st.Waiting
	}
	for _, n := range st.Nodes {
		if n.Reason != "" {
			return n.Reason
		}
	}
	return st.Error
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func ptr(s string) *string { return &s }

// patch sets (or, nil, removes) annotations with a JSON merge patch.
func (c *Controller) patch(ctx context.Context, w *watch, n *corev1.Node, set map[string]*string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": set}})
	if err != nil {
		return err
	}
	_, err = w.kc.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "noderemover-controller"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("annotate node %s: %w", n.Name, err)
	}
	return nil
}

func (c *Controller) event(ctx context.Context, w *watch, n *corev1.Node, typ, reason, msg string) {
	if err := drain.Event(ctx, w.kc, n, typ, reason, msg); err != nil {
		w.log.Warn().Err(err).Str("node", n.Name).Msg("event not recorded")
	}
}
