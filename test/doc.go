// Package test holds the end-to-end tests that run noderemover as real
// processes against a private Redis and the fake CCE: a backlog drained by
// three workers (and its benchmark).
package test
