// Package test holds the end-to-end tests that run noderemover as real
// processes against a private Redis and the fake CCE: the crash test
// (workers killed, Redis restarted, CCE failing), a backlog drained by
// three workers (and its benchmark), and the same removals on a single Redis,
// a Redis Cluster and Sentinel; one table of bad requests put through every
// entry point (Go, HTTP, CLI flags and --from-file); and an audit that no
// secret shows in Redis, logs, answers or the dashboard.
package test
