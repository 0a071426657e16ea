package store

import (
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/managers"
)

// Sentinel errors of the store, matched with errors.Is.
var (
	// ErrNotFound: no live instance (or node) with that identity.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the instance is not in the state an update requires.
	ErrConflict = errors.New("instance state conflict")
	// ErrNoNode: the host has no compute node row (its compute service has
	// never reported its resources).
	ErrNoNode = errors.New("no compute node")
	// ErrInsufficient: the node does not have the free capacity a claim needs.
	ErrInsufficient = errors.New("insufficient resources")
	// ErrClaimed: the instance is claimed on another host.
	ErrClaimed = errors.New("instance is claimed on another host")
)

// ConflictError is returned by Update when the instance exists but does not
// meet the condition; Current is the instance as it is.
type ConflictError struct {
	Current Instance
}

func (e *ConflictError) Error() string {
	task := string(e.Current.TaskState)
	if task == "" {
		task = "none"
	}
	return fmt.Sprintf("instance %s is in vm_state %s, task_state %s on host %q",
		e.Current.UUID, e.Current.VMState, task, e.Current.Host)
}

// Is matches ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// DeletingField is the Field of the Conflict (a managers.Error) with which
// the compute, scheduler and conductor services refuse work on an instance
// being deleted (Instance.BeingDeleted), as nova's
// UnexpectedDeletingTaskStateError: the instance's task_state is what
// conflicts. A build stops at it instead of trying another host
// (IsDeleting).
const DeletingField = "task_state"

// Typed is the refusal as the RPC API returns it: a Conflict with message
// msg, whose Field is DeletingField when the instance is being deleted.
func (e *ConflictError) Typed(msg string) *managers.Error {
	out := &managers.Error{Type: managers.ConflictType, Message: msg}
	if e.Current.BeingDeleted() {
		out.Field = DeletingField
	}
	return out
}

// IsDeleting reports whether err is the Conflict of an instance being
// deleted (ConflictError.Typed).
func IsDeleting(err error) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == managers.ConflictType && e.Field == DeletingField
}

// InsufficientError names the resource a claim lacked.
type InsufficientError struct {
	Host      string
	Resource  string // vcpus, memory_mb or disk_gb
	Requested int
	Free      int
}

func (e *InsufficientError) Error() string {
	return fmt.Sprintf("host %s has %d %s free, %d requested", e.Host, e.Free, e.Resource, e.Requested)
}

// Is matches ErrInsufficient.
func (e *InsufficientError) Is(target error) bool { return target == ErrInsufficient }

// ClaimedError says where the instance is claimed.
type ClaimedError struct {
	UUID string
	Host string
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("instance %s is claimed on host %s", e.UUID, e.Host)
}

// Is matches ErrClaimed.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }
