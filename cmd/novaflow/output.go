package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/worker"
)

// Exit codes of every command (docs/cli.md).
const (
	exitOK          = 0
	exitFailure     = 1   // anything else that went wrong
	exitUsage       = 2   // a bad command line: flag, argument, or input the CLI checked itself
	exitRemote      = 3   // a typed error of a service (InvalidArgument, NotFound, Conflict, ...)
	exitTimeout     = 4   // no result in time; whether the operation ran is unknown
	exitInterrupted = 130 // Ctrl-C (SIGINT); a signal s ends a command with 128+s (interruptedCode)
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatJSONL = "jsonl"
	formatValue = "value"
)

// usageError is a bad command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// invalidInput is a request the CLI refused itself, naming its field as a
// service would (exit code 2).
func invalidInput(field, format string, args ...any) error {
	return usageError{managers.InvalidArgument(field, format, args...)}
}

// remoteError is a service's typed error: exit code 3 (4 for Timeout).
// remoteError is a service's typed error. rendered: stdout already holds
// the command's one JSON document, which carries it (a fanout's rows), so
// exitCode writes no second one.
type remoteError struct {
	e        *managers.Error
	rendered bool
}

func (e remoteError) Error() string { return e.e.Error() }
func (e remoteError) Unwrap() error { return e.e }

// errWaitInterrupted marks a wait cut short by a signal (a
// *worker.InterruptedError beside it names which); the operation goes on.
var errWaitInterrupted = errors.New("stopped waiting")

// interruptedCode is the exit code of a command that a signal ended: 128 +
// the signal's number (130 after Ctrl-C, 143 after SIGTERM), as a shell
// reports a process the signal killed.
func interruptedCode(err error) int {
	var ie *worker.InterruptedError
	if errors.As(err, &ie) {
		return ie.ExitCode()
	}
	return exitInterrupted
}

// addOutputFlags adds the output flags every command shares.
func addOutputFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringP("output", "o", formatTable, "output format: table, json (one document), jsonl (one line per row) or value (bare values, one row per line)")
	pf.StringSliceP("column", "c", nil, "only these fields (JSON names, dotted for nested: flavor.vcpus), in this order; repeatable or comma-separated")
	pf.Bool("no-color", false, "no colour even on a terminal (also NO_COLOR=1)")
}

// outputOpts are the output flags of a command.
type outputOpts struct {
	format  string
	columns []string
	color   bool
}

func outputOf(cmd *cobra.Command) (outputOpts, error) {
	f := cmd.Flags()
	o := outputOpts{}
	o.format, _ = f.GetString("output")
	o.columns, _ = f.GetStringSlice("column")
	if j := f.Lookup("json"); j != nil && j.Changed && j.Value.String() == "true" {
		o.format = formatJSON
	}
	switch o.format {
	case "text":
		o.format = formatTable
	case formatTable, formatJSON, formatJSONL, formatValue:
	default:
		return o, usagef("--output %q: want table, json, jsonl or value", o.format)
	}
	noColor, _ := f.GetBool("no-color")
	o.color = o.format == formatTable && !noColor && os.Getenv("NO_COLOR") == "" && isTerminal(cmd.OutOrStdout())
	return o, nil
}

// addJSONAlias adds the hidden, deprecated --json of the commands that had
// it: the same as -o json.
func addJSONAlias(cmd *cobra.Command) {
	cmd.Flags().Bool("json", false, "print JSON (deprecated: use -o json)")
	_ = cmd.Flags().MarkHidden("json")
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// render prints v, a value or a slice of rows, in the command's format:
// table through the command's own table printer (or, with -c, a table of
// the chosen fields), else from v's JSON.
func render(cmd *cobra.Command, v any, table func(w io.Writer, o outputOpts) error) error {
	o, err := outputOf(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.format == formatTable && len(o.columns) == 0 && table != nil {
		return table(out, o)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	rows, isList := doc.([]any)
	if !isList {
		rows = []any{doc}
	}
	if len(o.columns) > 0 {
		for i, r := range rows {
			picked, err := pick(r, o.columns)
			if err != nil {
				return err
			}
			rows[i] = picked
		}
		if isList {
			doc = rows
		} else {
			doc = rows[0]
		}
	}
	switch o.format {
	case formatJSON:
		return writeJSON(out, doc)
	case formatJSONL:
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\n", b)
		}
		return nil
	case formatValue:
		for _, r := range rows {
			fmt.Fprintln(out, strings.Join(cells(r, o.columns), " "))
		}
		return nil
	}
	// A table of the chosen fields (or of every field of a row without a
	// printer of its own).
	cols := o.columns
	if len(cols) == 0 && len(rows) > 0 {
		if m, ok := rows[0].(map[string]any); ok {
			for k := range m {
				cols = append(cols, k)
			}
			sort.Strings(cols)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(cols) > 0 {
		head := make([]string, len(cols))
		for i, c := range cols {
			head[i] = strings.ToUpper(c)
		}
		fmt.Fprintln(tw, strings.Join(head, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(cells(r, cols), "\t"))
	}
	return tw.Flush()
}

// pick returns the fields of row named by cols (dotted paths), as an
// object keyed by the names given; a name no row has is a usage error.
func pick(row any, cols []string) (map[string]any, error) {
	out := make(map[string]any, len(cols))
	for _, c := range cols {
		v, ok := lookup(row, c)
		if !ok {
			return nil, usagef("--column %q: no such field; fields: %s", c, strings.Join(fieldNames(row), ", "))
		}
		out[c] = v
	}
	return out, nil
}

func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func fieldNames(row any) []string {
	m, ok := row.(map[string]any)
	if !ok {
		return nil
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// cells are the values of row's cols as text (all of a scalar row's).
func cells(row any, cols []string) []string {
	if len(cols) == 0 {
		m, ok := row.(map[string]any)
		if !ok {
			return []string{cellText(row)}
		}
		cols = fieldNames(m)
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		v, _ := lookup(row, c)
		if m, ok := row.(map[string]any); ok {
			if pv, ok := m[c]; ok { // a picked row keys dotted names whole
				v = pv
			}
		}
		out[i] = cellText(v)
	}
	return out
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cellText(e)
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Colours of states, on a terminal only.
const (
	ansiDefault = "\x1b[39m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiRed     = "\x1b[31m"
	ansiReset   = "\x1b[0m"
)

// paint colours a state's word when o.color: good green, in-between
// yellow, bad red, anything else the terminal's default. Every word gets a
// code of the same length, so that a column of painted cells (its header
// included: paint it too) stays aligned by tabwriter, which counts the
// codes as text.
func (o outputOpts) paint(s string) string {
	if !o.color {
		return s
	}
	code := ansiDefault
	switch strings.ToLower(s) {
	case "active", "up", "enabled", "available", "in-use", "running", "success":
		code = ansiGreen
	case "error", "down", "crashed", "failed":
		code = ansiRed
	case "building", "scheduling", "unknown", "disabled", "stopped", "shutdown", "creating", "attaching", "detaching", "deleting":
		code = ansiYellow
	}
	return code + s + ansiReset
}

// exitCode maps a command's error to its exit code and prints it: the
// typed error of a service as its type, field and message (also as JSON on
// stdout with -o json or jsonl, for scripts).
func exitCode(err error, format string, stdout, stderr io.Writer) int {
	var re remoteError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, worker.ErrInterrupted):
		fmt.Fprintln(stderr, "novaflow:", oneLine(err))
		return interruptedCode(err)
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "novaflow:", oneLine(err))
		return exitUsage
	case errors.As(err, &re):
		fmt.Fprintln(stderr, "novaflow:", oneLine(re))
		if (format == formatJSON || format == formatJSONL) && !re.rendered {
			b, _ := json.Marshal(map[string]any{"error": errorView{Type: re.e.Type, Field: re.e.Field, Message: re.e.Message}})
			fmt.Fprintf(stdout, "%s\n", b)
		}
		if re.e.Type == managers.TimeoutType {
			return exitTimeout
		}
		return exitRemote
	}
	fmt.Fprintln(stderr, "novaflow:", oneLine(err))
	return exitFailure
}
