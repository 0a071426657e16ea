//go:build linux

package process

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what the driver reads from /proc/<pid>/stat.
type procStat struct {
	pid        int
	state      byte   // R, S, D, Z, X, ...
	pgrp       int    // process group id
	startTicks uint64 // start time, in clock ticks since boot
}

// dead reports whether the process has exited and waits to be reaped.
func (s procStat) dead() bool { return s.state == 'Z' || s.state == 'X' }

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s, err := parseStat(data)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// parseStat parses the content of /proc/<pid>/stat. The command name (field
// 2) is in parentheses and may hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseStat(data []byte) (procStat, error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("no command name in parentheses")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("pid: %w", err)
	}
	// fields[0] is field 3 (state), so field N is fields[N-3].
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 20", len(fields))
	}
	if len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("state %q", fields[0])
	}
	pgrp, err := strconv.Atoi(fields[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("pgrp: %w", err)
	}
	start, err := strconv.ParseUint(fields[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("starttime: %w", err)
	}
	return procStat{pid: pid, state: fields[0][0], pgrp: pgrp, startTicks: start}, nil
}

// processAlive reports whether pid is a live (not zombie) process that
// started at startTicks: kill(pid, 0) first, then /proc/<pid>/stat.
func processAlive(pid int, startTicks uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	s, err := readStat(pid)
	return err == nil && !s.dead() && s.startTicks == startTicks
}

// group is the process group of an instance's run. The leader is the
// process started from the instance's Command; its pid is the group id.
type group struct {
	pgid       int
	startTicks uint64 // the leader's; members started no earlier
}

// members returns the live processes of g. A process counts when it is in
// process group g.pgid and started no earlier than the leader. If a live
// process other than the leader has the pid g.pgid, that pid was reused and
// the group of that id is not ours: members returns none.
func (g group) members() ([]int, error) {
	if g.pgid <= 0 {
		return nil, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err != nil || s.dead() {
			continue // gone meanwhile, or a zombie
		}
		if pid == g.pgid && s.startTicks != g.startTicks {
			return nil, nil // the pid was reused by another process
		}
		if s.pgrp == g.pgid && s.startTicks >= g.startTicks {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// signal sends sig to every process of the group; an empty group is fine.
func (g group) signal(sig syscall.Signal) error {
	if err := syscall.Kill(-g.pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send %v to process group %d: %w", sig, g.pgid, err)
	}
	return nil
}

// memTotalMB returns MemTotal from /proc/meminfo, in MB.
func memTotalMB() (int, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "16318128 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("parse /proc/meminfo: MemTotal %q", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/meminfo: MemTotal: %w", err)
		}
		return int(kb / 1024), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// diskGB returns the size of the file system holding dir, in GB.
func diskGB(dir string) (int, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int(st.Blocks * uint64(st.Bsize) >> 30), nil
}
