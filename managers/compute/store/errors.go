package store

import (
	"errors"
	"fmt"
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
