package worker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRunExitsWithTheSignalThatForcedIt: Run ends at once, with an
// *InterruptedError naming the signal, on SIGINT and on a second signal
// during a graceful stop; its exit code is 128 + the signal's number (130
// after SIGINT, 143 after a second SIGTERM). One SIGTERM is a graceful stop.
func TestRunExitsWithTheSignalThatForcedIt(t *testing.T) {
	tests := []struct {
		name     string
		sigs     []os.Signal // the second one arrives during the stop
		want     os.Signal   // nil: a graceful stop
		wantCode int
	}{
		{"SIGINT", []os.Signal{syscall.SIGINT}, syscall.SIGINT, 130},
		{"SIGTERM", []os.Signal{syscall.SIGTERM}, nil, 0},
		{"second SIGTERM", []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, syscall.SIGTERM, 143},
		{"SIGINT during a stop", []os.Signal{syscall.SIGTERM, syscall.SIGINT}, syscall.SIGINT, 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 1)
			started, stopping, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
			defer close(release)
			done := make(chan error, 1)
			opts := RunOptions{Signals: sigs, Logger: slog.New(slog.DiscardHandler), Started: func() { close(started) },
				// A stop that lasts until the test ends, so that a second
				// signal finds it going.
				Stopping: func() { close(stopping); <-release }}
			go func() { done <- Run(context.Background(), opts) }()
			<-started
			sigs <- tt.sigs[0]
			if len(tt.sigs) > 1 {
				<-stopping
				sigs <- tt.sigs[1]
			} else if tt.want == nil {
				<-stopping
				release <- struct{}{}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				return
			}
			var ie *InterruptedError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInterrupted) || ie.Signal != tt.want || ie.ExitCode() != tt.wantCode {
				t.Fatalf("Run = %v, want an InterruptedError by %v with exit code %d", err, tt.want, tt.wantCode)
			}
		})
	}
}
