package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/worker"
)

func newServiceRunPeriodicCmd() *cobra.Command {
	var host, task string
	cmd := &cobra.Command{
		Use: "run-periodic <topic>",
		Example: `  novaflow service run-periodic compute
  novaflow service run-periodic compute --host node1 --task sync_power_states`,
		Short: "Run a topic's periodic tasks now (nova's Service.periodic_tasks)",
		Long: `Run a topic's periodic tasks now: trigger the Temporal Schedules
periodic:<topic>:<host>:<task> of every host of the topic (or of --host), for
every task (or --task). Each triggered run shows in the Web UI as workflow
<topic>.periodic.<task>. A task that is running runs once more when it
finishes; a paused schedule still runs once. Disabled tasks have no schedule.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := useDevStack().settings()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := worker.Dial(ctx, cfg, discardLogger())
			if err != nil {
				return err
			}
			defer c.Close()
			triggered, err := worker.TriggerPeriodic(ctx, c, args[0], host, task)
			for _, t := range triggered {
				note := ""
				if t.Paused {
					note = " (schedule paused: this run only)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "triggered %s%s\n", t.ID, note)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "only the service on this host (default: every host of the topic)")
	cmd.Flags().StringVar(&task, "task", "", "only this task (default: every task)")
	return cmd
}
