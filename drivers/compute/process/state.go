//go:build linux

package process

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// File names in an instance's directory.
const (
	stateFile  = "state.json"
	stdoutFile = "stdout.log"
	stderrFile = "stderr.log"
	tempPrefix = ".state.json.tmp-"
)

// stateVersion is the version of the state.json format.
const stateVersion = 1

// state is the content of state.json.
type state struct {
	Version int            `json:"version"`
	UUID    string         `json:"uuid"`
	Name    string         `json:"name"`
	Flavor  compute.Flavor `json:"flavor"`
	Command []string       `json:"command"`
	Env     []string       `json:"env,omitempty"`
	// Desired is the power state last asked for: RUNNING or SHUTDOWN.
	Desired compute.PowerState `json:"desired_power_state"`
	// PID and StartTicks identify the group leader of the current run
	// (StartTicks is field 22 of /proc/<pid>/stat); 0 when none.
	PID        int       `json:"pid,omitempty"`
	StartTicks uint64    `json:"start_ticks,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
}

func newState(inst compute.Instance) state {
	return state{
		Version: stateVersion,
		UUID:    inst.UUID,
		Name:    inst.Name,
		Flavor:  inst.Flavor,
		Command: inst.Command,
		Env:     inst.Env,
		Desired: compute.Running,
	}
}

func (s state) group() group { return group{pgid: s.PID, startTicks: s.StartTicks} }

// readState reads and checks dir/state.json.
func readState(dir string) (state, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return state{}, fmt.Errorf("read state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return state{}, fmt.Errorf("parse %s: %w", stateFile, err)
	}
	if s.Version != stateVersion {
		return state{}, fmt.Errorf("%s: version %d, want %d", stateFile, s.Version, stateVersion)
	}
	if uuid := filepath.Base(dir); s.UUID != uuid {
		return state{}, fmt.Errorf("%s: uuid %q in the directory of %q", stateFile, s.UUID, uuid)
	}
	if len(s.Command) == 0 {
		return state{}, fmt.Errorf("%s: no command", stateFile)
	}
	return s, nil
}

// writeState replaces dir/state.json atomically: it writes a temporary file
// in dir, syncs it, renames it over state.json, and syncs dir.
func writeState(dir string, s state) (err error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeTemps removes temporary state files left by a crash during
// writeState.
func removeTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
