package main

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/novaflow/novaflow/worker"
)

// A command a signal ends exits with 128 + the signal's number, whether
// the signal ended a service (run, dev) or a wait (call, instance create):
// 130 after Ctrl-C, 143 after SIGTERM.
func TestSignalExitCodes(t *testing.T) {
	wait := func(sig syscall.Signal) error {
		return fmt.Errorf("%w: %w for w-1, which goes on", &worker.InterruptedError{Signal: sig}, errWaitInterrupted)
	}
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"run after SIGINT", &worker.InterruptedError{Signal: syscall.SIGINT}, 130, "interrupted by SIGINT"},
		{"run after a second SIGTERM", &worker.InterruptedError{Signal: syscall.SIGTERM}, 143, "interrupted by SIGTERM"},
		{"wait after Ctrl-C", wait(syscall.SIGINT), 130, "novaflow: interrupted by SIGINT: stopped waiting for w-1, which goes on"},
		{"wait after SIGTERM", wait(syscall.SIGTERM), 143, "novaflow: interrupted by SIGTERM: stopped waiting for w-1, which goes on"},
		{"no signal named", worker.ErrInterrupted, 130, "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := exitCode(tt.err, formatTable, &out, &errOut); code != tt.code || !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("exitCode(%v) = %d, stderr %q; want %d, %q", tt.err, code, errOut.String(), tt.code, tt.stderr)
			}
			if code := interruptedCode(tt.err); code != tt.code {
				t.Errorf("interruptedCode(%v) = %d, want %d", tt.err, code, tt.code)
			}
		})
	}
}
