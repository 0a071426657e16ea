package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/worker"
)

func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use: "run <topic>",
		Example: `  novaflow run compute
  NOVAFLOW_HOST=node2 NOVAFLOW_COMPUTE_DRIVER=fake novaflow run compute
  novaflow-scheduler          # the same as novaflow run scheduler`,
		Short: "Run the service of a topic on this host",
		Long: `Run the service of a topic on this host: a Temporal worker on task queues
<topic> and <topic>.<host>, its record in the services table, its status
report and periodic tasks as Temporal Schedules.

SIGTERM stops it gracefully (in-flight work finishes within
NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT; exit code 0), SIGHUP re-reads the
mutable settings, SIGINT exits at once (130), as does a second SIGTERM
during the stop (143). Beside a running 'novaflow dev' it needs no settings:
NOVAFLOW_HOST=node2 NOVAFLOW_COMPUTE_DRIVER=fake novaflow run compute adds a
simulated compute host to it, its state in the dev stack's folder. compute
refuses to start without NOVAFLOW_COMPUTE_DRIVER.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			penv := useDevStack()
			env, cfg, err := penv.settings()
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			logger := worker.NewLogger(os.Stderr, cfg, level)
			// The state of the service's manager (compute's instances,
			// volume's volumes) is in systemd's StateDirectory= when it runs
			// under systemd, else in /var/lib/novaflow/<topic>.
			stateDir := penv.stateDir(env, args[0], cfg.Host)
			svc, err := worker.Create(cfg, worker.Options{Topic: args[0], Logger: logger, LogLevel: level, Env: env, Reload: penv.load, StateDir: stateDir})
			if err != nil {
				return err
			}
			// The process's own lines name its one service too.
			logger = logger.With("service", svc.Binary(), "host", svc.Host(), "topic", svc.Topic())
			tel, stopTelemetry, err := startTelemetry(cmd.Context(), env, cfg, svc.Binary(), logger)
			if err != nil {
				return err
			}
			defer stopTelemetry()
			return worker.Run(context.Background(), worker.RunOptions{
				Logger:        logger,
				Health:        withMetrics(worker.NewHealth(svc), tel),
				HealthAddress: cfg.HealthAddress,
			}, svc)
		},
	}
}
