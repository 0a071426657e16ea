// Command novaflow is the one binary of a novaflow control plane:
//
//	novaflow run <topic>      run the service of a topic on this host
//	novaflow dev              run the whole system on this machine
//	novaflow instance ...     create, list, show, reboot, stop, start, delete instances
//	novaflow volume ...       create, list, show, attach, detach, delete volumes
//	novaflow host ...         list and show compute hosts with capacity and usage
//	novaflow call             call any manager's method
//	novaflow service ...      list, disable, enable, force down, delete or prune services
//	novaflow migrate          apply the database migrations
//	novaflow temporal setup   create or check the Temporal namespace, search attributes, settings
//	novaflow codec-server     serve the payload codec to the Web UI and the temporal CLI
//	novaflow version          print the versions
//
// Installed (or linked) as novaflow-<topic>, it runs that topic's service, as
// nova's nova-compute does.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/worker"

	// The reference control plane's managers and drivers register themselves.
	_ "github.com/novaflow/novaflow/drivers/compute/fake"
	_ "github.com/novaflow/novaflow/drivers/compute/process"
	_ "github.com/novaflow/novaflow/drivers/volume/fake"
	_ "github.com/novaflow/novaflow/drivers/volume/file"
	_ "github.com/novaflow/novaflow/managers/compute"
	_ "github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/scheduler"
	_ "github.com/novaflow/novaflow/managers/volume"
)

func main() {
	os.Exit(execute(os.Args, os.Stdout, os.Stderr))
}

// execute runs the command line and returns the exit code (docs/cli.md): 0,
// 1 for a failure (printed as one line on stderr), 2 for a bad command
// line, 3 for a service's typed error, 4 for a timeout, 128 + the signal's
// number after a signal that ended it at once (130 after SIGINT, 143 after
// SIGTERM).
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	// The flags of this command line apply to it alone (a test runs many).
	defer func() { globalClient = clientFlags{} }()
	// started says the command line was accepted and a command ran: an
	// error before that is cobra's refusal of the line (exit code 2). Each
	// command's run is wrapped, rather than a PersistentPreRunE used, which a
	// subcommand's own would replace.
	started := false
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				started = true
				if _, err := outputOf(cmd); err != nil {
					return err
				}
				return run(cmd, args)
			}
		} else if run := c.Run; run != nil {
			c.Run = func(cmd *cobra.Command, args []string) {
				started = true
				run(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(stdout)
	root.SetErr(stderr)
	argv := args[1:]
	if base := filepath.Base(args[0]); strings.HasPrefix(base, worker.BinaryPrefix) &&
		(len(argv) == 0 || strings.HasPrefix(argv[0], "-")) {
		argv = append([]string{"run", strings.TrimPrefix(base, worker.BinaryPrefix)}, argv...)
	}
	root.SetArgs(argv)
	cmd, err := root.ExecuteContextC(context.Background())
	format := formatTable
	if cmd != nil {
		format, _ = cmd.Flags().GetString("output")
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, worker.ErrInterrupted) && !errors.Is(err, errWaitInterrupted):
		return interruptedCode(err)
	case !started && !errors.As(err, new(usageError)):
		// Cobra refused the command line before running anything: an
		// unknown command, a missing or extra argument.
		err = usageError{err}
		if cmd != nil {
			err = usagef("%v (see %s --help)", err, cmd.CommandPath())
		}
	}
	return exitCode(err, format, stdout, stderr)
}

// oneLine folds an error onto one line, as basic_config_check failures are
// promised to be.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newRootCmd() *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "novaflow",
		Short: "nova's Service / Manager / Driver architecture on Temporal",
		Long: `novaflow runs nova's Service / Manager / Driver architecture on Temporal, and
is the operator's CLI of the control plane it runs: every command takes
-o table|json|jsonl|value and -c FIELD, and exits 0 (ok), 1 (failure),
2 (bad command line or input), 3 (a service's typed error), 4 (timeout) or
128 + the signal's number when a signal ends it (130 SIGINT, 143 SIGTERM). Beside a running 'novaflow dev' it finds the dev stack by
itself; elsewhere it reads the NOVAFLOW_* settings (docs/cli.md).`,
		Example: `  novaflow dev                                   # the whole system on this machine
  novaflow instance create web -- sleep 3600     # build an instance
  novaflow instance list -o json
  novaflow service list -c host,binary,state -o value
  novaflow --version`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				return runVersion(cmd)
			}
			return cmd.Help()
		},
	}
	globalClient.bind(root.PersistentFlags())
	root.Flags().BoolVar(&showVersion, "version", false, "print the versions (as novaflow version)")
	addOutputFlags(root)
	root.AddCommand(newRunCmd(), newDevCmd(), newServiceCmd(), newMigrateCmd(), newTemporalCmd(), newVersionCmd(),
		newConfigCmd(), newInstanceCmd(), newVolumeCmd(), newHostCmd(), newCallCmd(), newCodecServerCmd(), newAuthCmd())
	addCompletions(root)
	return root
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
