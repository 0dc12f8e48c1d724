// Package docs holds the architecture document (architecture.md) and the
// test that holds it to the code: its lifecycle table, its request moves
// and its package import rules.
package docs
