package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

// methodName is <topic>.<method>: the workflow type of a call.
var methodName = regexp.MustCompile(`^([a-z][a-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_]*)$`)

type callFlags struct {
	waitFlags
	host      string
	input     string
	inputFile string
	timeout   time.Duration
	version   string
	noCheck   bool
}

func newCallCmd() *cobra.Command {
	var f callFlags
	cmd := &cobra.Command{
		Use:   "call TOPIC.METHOD [-]",
		Short: "Call any manager's method, a service of your own included",
		Long: `Call a manager method through the rpc client, as a service calls another:
the workflow TOPIC.METHOD on task queue TOPIC (any host), TOPIC.HOST with
--host HOST, or every up host of the topic with --host '*' (a fanout, which
prints each host's result or error). The request is JSON: --input, the file
of --input-file, or standard input with '-'. A method this binary knows (the
reference control plane's, or a manager linked in) is checked here first,
naming the bad field (exit 2), and so is the method's name (--no-check
skips both, for a method newer than this binary); a topic of a binary of its own is called by
name with the JSON as given. A typed error of the method prints its type,
field and message and exits 3 (4 for a Timeout). With --no-wait it prints
the workflow ID (a cast) and returns.`,
		Example: `  novaflow call compute.get_instance_info --input '{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}'
  novaflow call volume.list_volumes --host '*' -o json
  novaflow call volume.list_volumes --input '{"deleted":true}'
  echo '{"name":"www","ip":"10.0.0.1"}' | novaflow call dns.create_record -
  novaflow call compute.stop_instance --input-file stop.json --request-id req-42 --no-wait`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give the method as TOPIC.METHOD, e.g. volume.list_volumes (topics: %s)", strings.Join(managers.Topics(), ", "))
			}
			if len(args) > 2 || (len(args) == 2 && args[1] != "-") {
				return usagef("want TOPIC.METHOD and at most '-' (the request on standard input), got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runCall(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "the host to call (task queue TOPIC.HOST), or '*' for every up host (default: any host)")
	fl.StringVar(&f.input, "input", "", "the request, a JSON object (default {})")
	fl.StringVar(&f.inputFile, "input-file", "", "read the request from this file ('-': standard input)")
	fl.DurationVar(&f.timeout, "timeout", 0, "the call's deadline (default NOVAFLOW_RPC_RESPONSE_TIMEOUT; with --no-wait NOVAFLOW_CAST_TIMEOUT)")
	fl.BoolVar(&f.noCheck, "no-check", false, "send the request as given, without checking the method and request here (a method newer than this binary)")
	fl.StringVar(&f.version, "version", "", "the method version the request is written for, major.minor (default: the one this binary knows)")
	f.waitFlags.add(cmd)
	return cmd
}

func runCall(cmd *cobra.Command, f callFlags, args []string) error {
	m := methodName.FindStringSubmatch(args[0])
	if m == nil {
		return usagef("%q: want TOPIC.METHOD, e.g. volume.list_volumes (topics: %s)", args[0], strings.Join(managers.Topics(), ", "))
	}
	topic, method := m[1], m[2]
	raw, err := callInput(cmd, f, len(args) == 2)
	if err != nil {
		return err
	}
	if f.host != "" && f.host != rpc.AllHosts && !rpc.ValidHost(f.host) {
		return invalidInput(managers.HostField, "%q is not a host name", f.host)
	}
	if !f.noCheck {
		if def, err := managers.ForTopic(topic, ""); err == nil && def.Methods != nil {
			if _, ok := def.Method(method); !ok {
				var names []string
				for _, m := range def.Methods() {
					names = append(names, m.Name)
				}
				return usagef("topic %s has no method %s in this binary (methods: %s); --no-check calls it anyway (a method of a newer release: it waits for a service that has it)",
					topic, method, strings.Join(names, ", "))
			}
		}
		if err := checkRequest(topic, method, raw); err != nil {
			return err
		}
	}
	var opts []rpc.CallOption
	if f.host != "" && f.host != rpc.AllHosts {
		opts = append(opts, rpc.ToHost(f.host))
	}
	if f.timeout != 0 {
		if f.timeout < 0 {
			return invalidInput("timeout", "must be positive, got %s", f.timeout)
		}
		opts = append(opts, rpc.Timeout(f.timeout))
	}
	if f.version != "" {
		if _, _, err := managers.ParseVersion(f.version); err != nil {
			return invalidInput("version", "%v", err)
		}
		opts = append(opts, rpc.Version(f.version))
	}
	// A request ID of its own, so that the workflow ID is known: the
	// progress line and Ctrl-C's message name it.
	rid, err := f.id()
	if err != nil {
		return err
	}
	opts = append(opts, rpc.RequestID(rid))
	ctx := cmd.Context()
	c, err := openConn()
	if err != nil {
		return err
	}
	defer c.close()
	calls, err := c.rpc(ctx)
	if err != nil {
		return err
	}
	switch {
	case f.host == rpc.AllHosts:
		if f.noWait {
			return usagef("--no-wait: a fanout (--host '*') waits for every host")
		}
		var res []rpc.HostResult
		err := wait(cmd, rpc.WorkflowID(topic, method, rpc.AllHosts, rid), nil, func(ctx2 context.Context) error {
			var err error
			res, err = calls.Fanout(ctx2, topic, method, raw, opts...)
			return typed(err)
		})
		if err != nil {
			return err
		}
		return renderFanout(cmd, res)
	case f.noWait:
		exec, err := calls.Cast(ctx, topic, method, raw, opts...)
		if err != nil {
			return typed(err)
		}
		return printStarted(cmd, started{WorkflowID: exec.WorkflowID, RunID: exec.RunID, RequestID: rid})
	}
	var out json.RawMessage
	if err := wait(cmd, rpc.WorkflowID(topic, method, f.host, rid), nil, func(ctx2 context.Context) error {
		return typed(calls.Call(ctx2, topic, method, raw, &out, opts...))
	}); err != nil {
		return err
	}
	var doc any = json.RawMessage("null")
	if len(out) > 0 {
		doc = out
	}
	return render(cmd, doc, func(w io.Writer, _ outputOpts) error {
		// A table of an arbitrary result is its JSON, indented.
		return writeJSON(w, doc)
	})
}

// callInput reads the request: --input, --input-file, or standard input.
func callInput(cmd *cobra.Command, f callFlags, stdin bool) (json.RawMessage, error) {
	given := 0
	for _, b := range []bool{f.input != "", f.inputFile != "", stdin} {
		if b {
			given++
		}
	}
	if given > 1 {
		return nil, usagef("give the request once: --input, --input-file or '-'")
	}
	var data []byte
	var err error
	switch {
	case f.input != "":
		data = []byte(f.input)
	case f.inputFile == "-" || stdin:
		data, err = io.ReadAll(cmd.InOrStdin())
	case f.inputFile != "":
		data, err = os.ReadFile(f.inputFile)
		if err != nil {
			return nil, usagef("--input-file: %v", err)
		}
	default:
		data = []byte("{}")
	}
	if err != nil {
		return nil, fmt.Errorf("read the request: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return nil, invalidInput("input", "the request must be a JSON object: %s", msg)
	}
	return json.RawMessage(data), nil
}

// fanoutRow is one host's outcome of a fanout, as printed.
type fanoutRow struct {
	Host   string          `json:"host"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *errorView      `json:"error,omitempty"`
}

type errorView struct {
	Type    string `json:"type"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// renderFanout prints each host's result or error; a host's error makes
// the command exit 3.
func renderFanout(cmd *cobra.Command, res []rpc.HostResult) error {
	rows := make([]fanoutRow, len(res))
	var failed *managers.Error
	for i, r := range res {
		rows[i] = fanoutRow{Host: r.Host, Result: r.Result}
		if r.Err != nil {
			e, ok := managers.AsError(r.Err)
			if !ok {
				e = &managers.Error{Type: "Error", Message: r.Err.Error()}
			}
			rows[i].Error = &errorView{Type: e.Type, Field: e.Field, Message: e.Message}
			if failed == nil {
				failed = &managers.Error{Type: e.Type, Field: e.Field, Message: "host " + r.Host + ": " + e.Message}
			}
		}
	}
	if err := render(cmd, rows, func(w io.Writer, o outputOpts) error {
		for _, r := range rows {
			if r.Error != nil {
				fmt.Fprintf(w, "%s: %s\n", r.Host, (&managers.Error{Type: r.Error.Type, Field: r.Error.Field, Message: r.Error.Message}).Error())
				continue
			}
			fmt.Fprintf(w, "%s: %s\n", r.Host, r.Result)
		}
		return nil
	}); err != nil {
		return err
	}
	if failed != nil {
		return remoteError{e: failed, rendered: true}
	}
	return nil
}
