// Package controller owns the Kubernetes face of noderemover: `noderemover
// controller` watches the Nodes of each cluster of WATCH_CLUSTERS and turns
// a Node annotated `noderemover.io/remove: "true"` into a removal request
// (enqueuer.Client.Enqueue), then keeps the request's answer on the Node —
// the annotations noderemover.io/request-id, noderemover.io/state and
// noderemover.io/reason, and Kubernetes Events — from the event stream.
// Taking the annotation away before CCE accepted the removal cancels it.
//
// # One request per ask, without leader election
//
// The request id is derived from the cluster, the Node's UID and the
// generation of the ask (RequestID): the annotation's value, where "true"
// is generation "1" and any other value (`remove=2`, `remove=retry-b`) is
// a new generation, so asking again after a failure takes a new value.
// The enqueuer makes the same id with the same content one request, so a
// restart, a resync, an event seen twice or two replicas that both act on
// one ask all end at the one request: Enqueue answers the second caller
// with the first one's status. That is why there is no leader election: it
// would add a lease, a failover delay and a second source of truth for what
// the request id already guarantees, and any replica can patch the answer
// onto the Node (the patches say the same thing).
//
// # The Node after a removal
//
// CCE's RemoveNode reinstalls the node and takes it out of the cluster, so
// in production the Node object goes away after `succeeded`; the controller
// then has nothing to patch and forgets the request. Where the Node stays
// (the tests' control plane, where nothing deletes it), its annotations say
// `succeeded` and it is left alone.
package controller
