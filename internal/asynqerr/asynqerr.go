// Package asynqerr reads what asynq v0.26's errors mean where it exports no
// value for them, from their wording, in one place: its test pins each
// wording against asynq itself, so an upgrade that changes one fails that
// test instead of a wake-up or a cancel.
package asynqerr

import (
	"errors"
	"strings"

	"github.com/hibiken/asynq"
)

// The wordings.
const (
	// running: Inspector.RunTask of a task that is active.
	running = "already running"
	// pending: Inspector.RunTask of a task that is pending.
	pending = "already in pending state"
	// active: Inspector.DeleteTask of a task that is active.
	active = "active state"
)

// Running: Inspector.RunTask refused a task because it is running now.
func Running(err error) bool { return err != nil && strings.Contains(err.Error(), running) }

// Pending: Inspector.RunTask refused a task because it is pending already.
func Pending(err error) bool { return err != nil && strings.Contains(err.Error(), pending) }

// Active: Inspector.DeleteTask refused a task because it is running now.
func Active(err error) bool { return err != nil && strings.Contains(err.Error(), active) }

// NotFound: no such task, or no such queue (asynq's own values).
func NotFound(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}
