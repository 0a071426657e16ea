package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/worker"
)

// conn is what the operator commands use: the settings, and, opened when
// first needed, the database, Temporal and an RPC client on it: the public
// rpc API the services use, so a command starts the same executions that
// `temporal workflow start` would.
type conn struct {
	env   worker.Env
	cfg   worker.Config
	pool  *pgxpool.Pool
	tc    client.Client
	calls *rpc.Client
}

func openConn() (*conn, error) {
	env, cfg, err := useDevStack().settings()
	if err != nil {
		return nil, err
	}
	return &conn{env: env, cfg: cfg}, nil
}

func (c *conn) close() {
	if c.tc != nil {
		c.tc.Close()
	}
	if c.pool != nil {
		c.pool.Close()
	}
}

func (c *conn) db(ctx context.Context) (*pgxpool.Pool, error) {
	if c.pool == nil {
		pool, err := db.Open(ctx, c.cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
		}
		c.pool = pool
	}
	return c.pool, nil
}

func (c *conn) temporal(ctx context.Context) (client.Client, error) {
	if c.tc == nil {
		tc, err := worker.Dial(ctx, c.cfg, discardLogger())
		if err != nil {
			return nil, err
		}
		c.tc = tc
	}
	return c.tc, nil
}

// rpc is an RPC client with the settings a service has: the timeouts and
// the upgrade levels (auto reads the services table).
func (c *conn) rpc(ctx context.Context) (*rpc.Client, error) {
	if c.calls != nil {
		return c.calls, nil
	}
	tc, err := c.temporal(ctx)
	if err != nil {
		return nil, err
	}
	levels, err := rpc.LoadUpgradeLevels(c.env.Get, managers.Topics()...)
	if err != nil {
		return nil, err
	}
	opts := rpc.Options{Temporal: tc, ResponseTimeout: c.cfg.RPCResponseTimeout, CastTimeout: c.cfg.CastTimeout, UpgradeLevels: levels}
	for _, l := range levels {
		if l == rpc.AutoLevel {
			pool, err := c.db(ctx)
			if err != nil {
				return nil, err
			}
			opts.Services = servicegroup.NewStore(pool)
			break
		}
	}
	calls, err := rpc.New(opts)
	if err != nil {
		return nil, err
	}
	c.calls = calls
	return calls, nil
}

// typed makes a service's typed error a remoteError (exit code 3, or 4 for
// a Timeout); other errors pass unchanged.
func typed(err error) error {
	if err == nil {
		return nil
	}
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if e, ok := managers.AsError(err); ok {
		return remoteError{e: e}
	}
	return err
}

// checkRequest decodes req as the method of topic will (strict JSON, the
// required fields, Validate), when this binary knows the method, so that a
// bad request is refused here with the field named (exit code 2) before
// anything is started.
func checkRequest(topic, method string, req any) error {
	def, err := managers.ForTopic(topic, "")
	if err != nil {
		return nil // a topic of a binary of its own: its service judges
	}
	m, ok := def.Method(method)
	if !ok {
		return nil
	}
	raw, ok := req.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		raw = b
	}
	if m.Declares(managers.HostField) {
		_, err = m.Decode(raw)
	} else {
		_, err = m.Decode(withoutHost(raw))
	}
	if err != nil {
		if e, ok := managers.AsError(err); ok {
			return usageError{e}
		}
		return usageError{err}
	}
	return nil
}

// withoutHost drops the routing field "host" of a JSON object.
func withoutHost(raw json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw
	}
	if _, ok := obj[managers.HostField]; !ok {
		return raw
	}
	delete(obj, managers.HostField)
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

// waitFlags are the flags of every command that starts an operation.
type waitFlags struct {
	requestID string
	noWait    bool
}

func (w *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&w.requestID, "request-id", "", "the request's ID (default: a new req-<uuid>): the same ID again is the same workflow, never run twice, and gives its result; use it to retry safely")
	cmd.Flags().BoolVar(&w.noWait, "no-wait", false, "print the workflow ID and return once the operation is recorded, without waiting for it")
}

// id is the request ID: the flag's, else a new one.
func (w *waitFlags) id() (string, error) {
	if w.requestID == "" {
		return "req-" + uuid.NewString(), nil
	}
	if err := managers.CheckText("request_id", w.requestID, managers.MaxRequestIDLen); err != nil {
		return "", usageError{err}
	}
	if strings.TrimSpace(w.requestID) == "" || strings.Contains(w.requestID, "/") {
		return "", invalidInput("request_id", "%q: want a non-empty ID without '/'", w.requestID)
	}
	return w.requestID, nil
}

// started is what --no-wait prints.
type started struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	RequestID  string `json:"request_id"`
}

func printStarted(cmd *cobra.Command, s started) error {
	return render(cmd, s, func(out io.Writer, _ outputOpts) error {
		fmt.Fprintln(out, s.WorkflowID)
		return nil
	})
}

// wait runs get (which waits for an operation's outcome) with a progress
// line on a terminal's stderr, made by progress every second (nil: the
// elapsed time only). Ctrl-C (or SIGTERM) stops the wait, not the
// operation: the error says how to follow it, and names the signal for the
// exit code.
func wait(cmd *cobra.Command, workflowID string, progress func(ctx context.Context) string, get func(ctx context.Context) error) error {
	ctx, signalled, stop := signalContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- get(ctx) }()
	errOut := cmd.ErrOrStderr()
	tty := isTerminal(errOut)
	began := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	shown := false
	for {
		select {
		case err := <-done:
			if shown {
				fmt.Fprint(errOut, "\r\x1b[K")
			}
			if sig := signalled(); err != nil && sig != nil {
				return fmt.Errorf("%w: %w for %s, which goes on (follow it with: temporal workflow describe --workflow-id '%s')",
					&worker.InterruptedError{Signal: sig}, errWaitInterrupted, workflowID, workflowID)
			}
			return err
		case <-tick.C:
			if !tty {
				continue
			}
			line := fmt.Sprintf("waiting for %s (%s)", workflowID, time.Since(began).Round(time.Second))
			if progress != nil {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if p := progress(pctx); p != "" {
					line += ": " + p
				}
				cancel()
			}
			fmt.Fprint(errOut, "\r\x1b[K"+line)
			shown = true
		}
	}
}

// signalContext is signal.NotifyContext that also tells which signal ended
// the context: signalled returns it, or nil while none came.
func signalContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, signalled func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	var got atomic.Pointer[os.Signal]
	go func() {
		select {
		case s := <-ch:
			got.Store(&s)
			cancel()
		case <-ctx.Done():
		}
	}()
	signalled = func() os.Signal {
		if s := got.Load(); s != nil {
			return *s
		}
		return nil
	}
	return ctx, signalled, func() { signal.Stop(ch); cancel() }
}
