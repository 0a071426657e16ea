package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
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
finishes; a paused schedule still runs once. Disabled tasks have no schedule.

With NOVAFLOW_AUTH on, --host starts the framework's run itself, which rule
novaflow:framework allows to service identities only (role service by
default), as nova's periodic tasks run as the service, never for an API
caller: NOVAFLOW_TOKEN (or _FILE) must hold a service identity's token (a
dev --auth stack: novaflow auth token --user ops --role service); an admin's
is refused before anything starts. Without --host the schedules run it,
which needs no token (docs/schedules.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := useDevStack().settings()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if host != "" {
				if err := checkFrameworkToken(ctx, cfg); err != nil {
					return err
				}
			}
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

// checkFrameworkToken refuses, before anything starts, a periodic run for one
// host that its host would refuse: with NOVAFLOW_AUTH on, a run not started
// by its schedule needs a token that rule policy.FrameworkRule allows (role
// service by default), checked here with the command's own policy
// (NOVAFLOW_AUTH_POLICY_FILE, as the services read theirs). Without this
// the command said "triggered" and the host refused the run in its result.
func checkFrameworkToken(ctx context.Context, cfg worker.Config) error {
	if !cfg.Auth {
		return nil
	}
	const need = "run-periodic --host starts the framework's run itself, which rule %q allows to service identities only " +
		"(role service by default; an admin's token is not one): set NOVAFLOW_TOKEN (or NOVAFLOW_TOKEN_FILE) to the token of a service identity " +
		"from your issuer (a novaflow dev --auth stack: export NOVAFLOW_TOKEN=$(novaflow auth token --user ops --role service)), " +
		"or leave out --host to trigger the schedules, which run on every host without a token (docs/schedules.md)"
	hint := fmt.Sprintf(need, policy.FrameworkRule)
	if cfg.Token == "" {
		return remoteError{e: &managers.Error{Type: policy.DeniedType, Message: "no token: " + hint}}
	}
	verifier, pol, err := cfg.Authz(ctx)
	if err != nil {
		return err
	}
	creds, err := verifier.Verify(cfg.Token)
	if err != nil {
		if me, ok := managers.AsError(err); ok {
			return remoteError{e: me}
		}
		return err
	}
	if err := pol.Check(policy.FrameworkRule, creds, nil).Err(creds); err != nil {
		me, _ := managers.AsError(err)
		return remoteError{e: &managers.Error{Type: me.Type, Message: me.Message + ": " + hint}}
	}
	return nil
}
