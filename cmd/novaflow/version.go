package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print novaflow's version and each topic's service version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			out := cmd.OutOrStdout()
			version := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				version = bi.Main.Version
			}
			fmt.Fprintf(out, "novaflow %s\n", version)
			for _, name := range managers.Names() {
				def, _ := managers.Lookup(name)
				fmt.Fprintf(out, "  manager %-12s topic %-12s service version %d\n", def.Name, def.Topic, def.Version)
			}
		},
	}
}
