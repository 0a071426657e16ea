// Command novaflow is the one binary of a novaflow control plane:
//
//	novaflow run <topic>      run the service of a topic on this host
//	novaflow dev              run the whole system on this machine
//	novaflow service ...      list, disable, enable, force down or delete services
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
	"fmt"
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

// execute runs the command line and returns the exit code: 0, 1 for any
// failure (printed as one line on stderr), 130 after SIGINT.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetOut(stdout)
	root.SetErr(stderr)
	argv := args[1:]
	if base := filepath.Base(args[0]); strings.HasPrefix(base, worker.BinaryPrefix) &&
		(len(argv) == 0 || strings.HasPrefix(argv[0], "-")) {
		argv = append([]string{"run", strings.TrimPrefix(base, worker.BinaryPrefix)}, argv...)
	}
	root.SetArgs(argv)
	err := root.ExecuteContext(context.Background())
	switch {
	case err == nil:
		return 0
	case errors.Is(err, worker.ErrInterrupted):
		return 130
	default:
		fmt.Fprintln(stderr, "novaflow:", oneLine(err))
		return 1
	}
}

// oneLine folds an error onto one line, as basic_config_check failures are
// promised to be.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "novaflow",
		Short:         "nova's Service / Manager / Driver architecture on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	globalClient.bind(root.PersistentFlags())
	root.AddCommand(newRunCmd(), newDevCmd(), newServiceCmd(), newMigrateCmd(), newTemporalCmd(), newVersionCmd(), newConfigCmd(), newInstanceCmd(), newCodecServerCmd())
	return root
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
