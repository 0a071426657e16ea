//go:build unix

package devstack

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// osUser is the account a child process runs as, when not the caller's.
type osUser struct {
	name     string
	uid, gid uint32
}

// postgresRunAs returns the account to run initdb and postgres as: nil (the
// current user) unless running as root, which PostgreSQL refuses, where it is
// the OS user "postgres".
func postgresRunAs() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, where PostgreSQL refuses to run, and looking up the OS user postgres to run it as: %w (create that user, or run as a non-root user)", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing uid %q of user postgres: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing gid %q of user postgres: %w", u.Gid, err)
	}
	return &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// apply makes the child run as u, with no supplementary groups.
func (u *osUser) apply(a *syscall.SysProcAttr) {
	a.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
}

// chown gives path (not what is below it) to u.
func (u *osUser) chown(path string) error {
	if err := os.Chown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("giving %s to user %s: %w", path, u.name, err)
	}
	return nil
}

// checkTraversable returns an error naming the first directory among dir and
// its parents that u cannot enter, judged from the permission bits.
func (u *osUser) checkTraversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("checking access of user %s to %s: %w", u.name, d, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			mode := fi.Mode().Perm()
			var canEnter bool
			switch {
			case st.Uid == u.uid:
				canEnter = mode&0o100 != 0
			case st.Gid == u.gid:
				canEnter = mode&0o010 != 0
			default:
				canEnter = mode&0o001 != 0
			}
			if !canEnter {
				return fmt.Errorf("user %s, which runs PostgreSQL because initdb refuses to run as root, cannot enter %s (mode %v): choose a data directory whose parents it can traverse", u.name, d, mode)
			}
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
