package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/worker"
)

func newTemporalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Prepare the Temporal namespace novaflow runs in",
	}
	cmd.AddCommand(newTemporalSetupCmd())
	return cmd
}

// temporalSetupFlags are the flags of `novaflow temporal setup`.
type temporalSetupFlags struct {
	retention string
	output    string
	check     bool
	strict    bool
}

func newTemporalSetupCmd() *cobra.Command {
	var f temporalSetupFlags
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create or check the namespace, register novaflow's search attributes, check the server's settings",
		Long: `Prepare the namespace of NOVAFLOW_TEMPORAL_NAMESPACE on the Temporal server of
NOVAFLOW_TEMPORAL_ADDRESS (with the same TLS and API key settings as the
services) for novaflow, and say what it found:
  - the namespace: created when missing, with --retention;
  - novaflow's search attributes (NovaflowTopic, NovaflowHost, NovaflowMethod,
    NovaflowInstance, all Keyword): registered when missing;
  - the server settings novaflow relies on: schedules, and the worker
    heartbeats that status reports read (dynamic config
    frontend.WorkerHeartbeatsEnabled and frontend.ListWorkersEnabled), with
    what each one that is off costs; the namespace's retention.
Run it before the services start, and again after an upgrade: a second run
changes nothing. Services refuse to start on a namespace without the search
attributes. It exits 1 when something novaflow needs is missing (with
--strict, also when a setting degrades novaflow).`,
		Args: cobra.NoArgs,
		Example: `  novaflow temporal setup
  novaflow temporal setup --check --strict
  novaflow temporal setup -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := outputOf(cmd)
			if err != nil {
				return err
			}
			f.output = "text"
			switch o.format {
			case formatJSON, formatJSONL:
				f.output = "json"
			case formatValue:
				return usagef("--output value: temporal setup prints table (text) or json")
			}
			return runTemporalSetup(cmd.Context(), f, cmd.Flags().Changed("retention"), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&f.retention, "retention", "7d", "retention of a namespace it creates (how long closed workflows stay), e.g. 7d or 72h; given explicitly, it is also set on an existing namespace")
	cmd.Flags().BoolVar(&f.check, "check", false, "change nothing: only report what is missing")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "exit 1 also when a server setting degrades novaflow (warnings)")
	return cmd
}

func runTemporalSetup(ctx context.Context, f temporalSetupFlags, retentionGiven bool, out io.Writer) error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: want text or json", f.output)
	}
	retention, err := parseRetention(f.retention)
	if err != nil {
		return err
	}
	_, cfg, err := useDevStack().settings()
	if err != nil {
		return err
	}
	c, err := worker.DialServer(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer c.Close()
	opts := worker.TemporalSetupOptions{
		Namespace: cfg.TemporalNamespace, Retention: retention, SetRetention: retentionGiven, CheckOnly: f.check,
	}
	if f.output == "text" {
		fmt.Fprintf(out, "Temporal %s, namespace %s\n", cfg.TemporalAddress, cfg.TemporalNamespace)
		opts.Progress = func(c worker.SetupCheck) { printSetupCheck(out, c) }
	}
	setup, err := worker.SetupTemporal(ctx, c, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.SettingSource("NOVAFLOW_TEMPORAL_NAMESPACE"), err)
	}
	problems, warnings := setup.Problems(), setup.Warnings()
	if f.output == "json" {
		doc := struct {
			Address string `json:"address"`
			worker.TemporalSetup
			OK bool `json:"ok"`
		}{cfg.TemporalAddress, setup, len(problems) == 0 && (!f.strict || len(warnings) == 0)}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		switch {
		case len(problems) > 0:
		case len(warnings) > 0:
			fmt.Fprintf(out, "ready for novaflow, with %d %s (above)\n", len(warnings), plural(len(warnings), "warning", "warnings"))
		default:
			fmt.Fprintln(out, "ready for novaflow")
		}
	}
	switch {
	case len(problems) > 0:
		var names []string
		for _, p := range problems {
			names = append(names, p.Name)
		}
		return fmt.Errorf("namespace %s is not ready for novaflow: %s", cfg.TemporalNamespace, strings.Join(names, ", "))
	case f.strict && len(warnings) > 0:
		var names []string
		for _, w := range warnings {
			names = append(names, w.Name)
		}
		return fmt.Errorf("--strict: %s", strings.Join(names, ", "))
	}
	return nil
}

// printSetupCheck prints one check: a line, and the cost when it is not ok.
func printSetupCheck(out io.Writer, c worker.SetupCheck) {
	fmt.Fprintf(out, "  %-8s %s: %s\n", c.Result, c.Name, c.Detail)
	if c.Cost != "" {
		fmt.Fprintf(out, "           costs: %s\n", c.Cost)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// parseRetention parses a retention: a number of days (7d) or a Go
// duration (72h), at least one hour.
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err == nil && d < time.Hour {
		err = errors.New("want at least 1h")
	}
	if err != nil {
		return 0, fmt.Errorf("--retention %q: %v (e.g. 7d or 72h)", s, err)
	}
	return d, nil
}
