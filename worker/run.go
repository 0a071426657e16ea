package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ErrInterrupted is matched by the error Run returns after SIGINT, or a
// second SIGTERM: the process should exit at once without a graceful stop,
// with the code InterruptedError.ExitCode gives.
var ErrInterrupted = errors.New("interrupted")

// InterruptedError is the error of a process that a signal ends at once
// (Run after SIGINT, or a second SIGTERM or SIGINT during a graceful stop).
// It matches ErrInterrupted.
type InterruptedError struct {
	// Signal is the signal that forced the exit.
	Signal os.Signal
}

func (e *InterruptedError) Error() string {
	name := e.Signal.String()
	switch e.Signal {
	case syscall.SIGINT:
		name = "SIGINT"
	case syscall.SIGTERM:
		name = "SIGTERM"
	}
	return "interrupted by " + name
}

// Is matches ErrInterrupted.
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// ExitCode is the exit code of a process the signal ended, by the shell's
// convention 128 + the signal's number: 130 after SIGINT, 143 after SIGTERM.
func (e *InterruptedError) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// RunOptions tune Run.
type RunOptions struct {
	// Logger is the process logger; default slog.Default().
	Logger *slog.Logger
	// Health, when set, is started on HealthAddress and stopped at the end.
	Health *Health
	// HealthAddress is where Health listens.
	HealthAddress string
	// GracefulInterrupt makes SIGINT a graceful stop like SIGTERM (novaflow
	// dev's Ctrl-C); otherwise SIGINT exits at once, as in nova.
	GracefulInterrupt bool
	// Signals, when set, replaces the process's signals (for tests).
	Signals <-chan os.Signal
	// Started, when set, is called once every service has started.
	Started func()
	// Stopping, when set, is called once a graceful stop begins, before the
	// services stop: novaflow dev checks there that its Temporal answers,
	// and closes the client when it does not, so that no stop waits on it.
	Stopping func()
}

// Run starts the services in order, then serves signals until ctx ends or a
// signal stops them:
//   - SIGTERM (or ctx done): graceful stop of every service; Run returns nil;
//   - SIGHUP: every service Resets; nothing restarts;
//   - SIGINT: returns an *InterruptedError at once (graceful with
//     GracefulInterrupt);
//   - a second SIGTERM or SIGINT during a graceful stop: an *InterruptedError
//     naming that signal.
//
// A graceful stop stops the services in parallel, each in nova's order
// (Service.Stop): they are independent, and one's drain must not wait for
// another's.
//
// If a service fails to start, those already started are stopped and the
// error is returned.
func Run(ctx context.Context, opts RunOptions, services ...*Service) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sigs := opts.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}
	if opts.Health != nil && opts.HealthAddress != "" {
		if err := opts.Health.Start(opts.HealthAddress); err != nil {
			return err
		}
		logger.Info("health endpoints", "address", opts.Health.Addr())
		defer opts.Health.Stop(context.Background())
	}

	var started []*Service
	stopAll := func() error {
		done := make(chan struct{})
		go func() {
			if opts.Stopping != nil {
				opts.Stopping()
			}
			var wg sync.WaitGroup
			for _, s := range started {
				wg.Go(func() { s.Stop(context.Background()) })
			}
			wg.Wait()
			close(done)
		}()
		for {
			select {
			case <-done:
				return nil
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					continue
				}
				logger.Warn("second signal during graceful stop: exiting now", "signal", sig.String())
				return &InterruptedError{Signal: sig}
			}
		}
	}
	for _, s := range services {
		if err := s.Start(ctx); err != nil {
			if stopErr := stopAll(); stopErr != nil {
				return stopErr
			}
			return fmt.Errorf("start %s on %s: %w", s.Binary(), s.Host(), err)
		}
		started = append(started, s)
	}
	stopObserving := observeServices(started, logger)
	defer stopObserving()
	if opts.Started != nil {
		opts.Started()
	}

	for {
		select {
		case <-ctx.Done():
			return stopAll()
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				logger.Info("SIGHUP: resetting")
				for _, s := range started {
					if err := s.Reset(ctx); err != nil {
						logger.Error("reset failed; the service keeps its settings", "service", s.Binary(), "error", err)
					}
				}
			case sig == syscall.SIGINT && !opts.GracefulInterrupt:
				logger.Warn("SIGINT: exiting now")
				return &InterruptedError{Signal: sig}
			default:
				logger.Info("stopping gracefully", "signal", sig.String())
				return stopAll()
			}
		}
	}
}
