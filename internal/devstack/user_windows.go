package devstack

import (
	"os"
	"syscall"
)

// osUser is the account a child process runs as; Windows never needs one.
type osUser struct{ name string }

// postgresRunAs returns nil: PostgreSQL runs as the current user.
func postgresRunAs() (*osUser, error) { return nil, nil }

func (u *osUser) apply(*syscall.SysProcAttr)    {}
func (u *osUser) chown(string) error            { return nil }
func (u *osUser) checkTraversable(string) error { return nil }

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
