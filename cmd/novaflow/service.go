package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/worker"
)

// admin is what the service subcommands share: settings and the database.
type admin struct {
	cfg   worker.Config
	pool  *pgxpool.Pool
	store *servicegroup.Store
}

// openAdmin opens the services table for a service command; with
// NOVAFLOW_AUTH on and a token, only for an admin (requireAdmin).
func openAdmin(ctx context.Context) (*admin, error) {
	_, cfg, err := useDevStack().settings()
	if err != nil {
		return nil, err
	}
	if err := requireAdmin(ctx, cfg); err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
	}
	return &admin{cfg: cfg, pool: pool, store: servicegroup.NewStore(pool)}, nil
}

func (a *admin) close() { a.pool.Close() }

// binaryArg accepts a binary (novaflow-compute) or its topic (compute).
func binaryArg(s string) string {
	if strings.HasPrefix(s, worker.BinaryPrefix) {
		return s
	}
	return worker.BinaryPrefix + s
}

func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Manage the services table (like `openstack compute service`)",
		Example: `  novaflow service list
  novaflow service disable node2 compute --reason maintenance
  novaflow service prune --older-than 24h --yes`,
	}
	cmd.AddCommand(newServiceListCmd(), newServiceDisableCmd(), newServiceEnableCmd(),
		newServiceForceDownCmd(), newServiceDeleteCmd(), newServicePruneCmd(), newServiceRunPeriodicCmd())
	return cmd
}

// serviceView is one row of `service list`, as the table and as JSON.
type serviceView struct {
	servicegroup.Record
	Status string `json:"status"`
	State  string `json:"state"`
}

func newServiceListCmd() *cobra.Command {
	var f servicegroup.Filter
	cmd := &cobra.Command{
		Use: "list",
		Example: `  novaflow service list
  novaflow service list --topic compute -o json
  novaflow service list -o value -c host,binary,state`,
		Short: "List services with their status (enabled/disabled) and state (up/down/unknown)",
		Long: `List the live services. State is nova's is_up rule: down when forced down,
else up when the service was last seen alive no longer than the effective
service down time ago (NOVAFLOW_SERVICE_DOWN_TIME, raised to 2.5 x
NOVAFLOW_REPORT_INTERVAL). Services are seen by their topic's status report;
when it has not run for longer than the down time (Temporal unreachable, or
its schedule paused), the services that were up show unknown, not down, and a
line under the table says since when the topic is not seen.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := openAdmin(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			if f.Binary != "" {
				f.Binary = binaryArg(f.Binary)
			}
			recs, now, err := a.store.List(ctx, f)
			if err != nil {
				return err
			}
			views := make([]serviceView, 0, len(recs))
			for _, r := range recs {
				v := serviceView{Record: r, Status: "enabled", State: string(servicegroup.Status(r, now, a.cfg.DownTime()))}
				if r.Disabled {
					v.Status = "disabled"
				}
				views = append(views, v)
			}
			return render(cmd, views, func(out io.Writer, o outputOpts) error {
				printServices(out, o, views, now, a.cfg.DownTime())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&f.Host, "host", "", "only services on this host")
	cmd.Flags().StringVar(&f.Binary, "binary", "", "only this binary (or topic)")
	cmd.Flags().StringVar(&f.Topic, "topic", "", "only this topic")
	addJSONAlias(cmd)
	return cmd
}

func printServices(out io.Writer, o outputOpts, views []serviceView, now time.Time, downTime time.Duration) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tBINARY\tHOST\tTOPIC\t%s\t%s\tFORCED DOWN\tLAST SEEN UP\tVERSION\tBUILD\tDISABLED REASON\n", o.paint("STATUS"), o.paint("STATE"))
	for _, v := range views {
		seen := "never"
		if v.LastSeenUp != nil {
			seen = fmt.Sprintf("%s (%s ago)", v.LastSeenUp.UTC().Format(time.RFC3339), now.Sub(*v.LastSeenUp).Round(time.Second))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%t\t%s\t%d\t%s\t%s\n", v.ID, v.Binary, v.Host, v.Topic, o.paint(v.Status), o.paint(v.State),
			v.ForcedDown, seen, v.Version, orDash(v.BuildID), v.DisabledReason)
	}
	tw.Flush()
	blind := map[string]bool{}
	for _, v := range views {
		if v.State == string(servicegroup.Unknown) && v.Observer != nil && !blind[v.Topic] {
			blind[v.Topic] = true
			o := v.Observer
			if now.Sub(o.ObservedAt) > downTime {
				fmt.Fprintf(out, "\ntopic %s: not seen since %s (%s ago): its status report does not run (Temporal unreachable, or schedule %s paused);\nits services show unknown, not down, until it runs again\n",
					v.Topic, o.ObservedAt.UTC().Format(time.RFC3339), now.Sub(o.ObservedAt).Round(time.Second), worker.ReportScheduleID(v.Topic))
			} else {
				fmt.Fprintf(out, "\ntopic %s: status reports resumed at %s after a gap; services not seen again yet show unknown\n",
					v.Topic, o.ObservingSince.UTC().Format(time.RFC3339))
			}
		}
	}
}

// hostBinaryCmd builds a `service <verb> HOST BINARY` command.
func hostBinaryCmd(use, short string, run func(ctx context.Context, a *admin, host, binary string) (*servicegroup.Record, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " HOST BINARY",
		Short: short,
		Example: fmt.Sprintf(`  novaflow service %[1]s node2 compute
  novaflow service %[1]s node2 novaflow-compute -o json`, use),
		Args: exactArgs("host", "binary"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := openAdmin(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			rec, err := run(ctx, a, args[0], binaryArg(args[1]))
			if errors.Is(err, servicegroup.ErrNotFound) {
				return remoteError{e: managers.NotFound("service", binaryArg(args[1])+" on "+args[0])}
			}
			if err != nil {
				return err
			}
			return render(cmd, rec, func(out io.Writer, _ outputOpts) error {
				fmt.Fprintf(out, "%s on %s: disabled=%t forced_down=%t deleted=%t\n",
					rec.Binary, rec.Host, rec.Disabled, rec.ForcedDown, rec.Deleted)
				return nil
			})
		},
	}
}

func newServiceDisableCmd() *cobra.Command {
	var reason string
	cmd := hostBinaryCmd("disable", "Disable a service: it keeps reporting but gets no new work",
		func(ctx context.Context, a *admin, host, binary string) (*servicegroup.Record, error) {
			return a.store.SetDisabled(ctx, host, binary, true, reason)
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why the service is disabled (shown in service list)")
	return cmd
}

func newServiceEnableCmd() *cobra.Command {
	return hostBinaryCmd("enable", "Enable a disabled service",
		func(ctx context.Context, a *admin, host, binary string) (*servicegroup.Record, error) {
			return a.store.SetDisabled(ctx, host, binary, false, "")
		})
}

func newServiceForceDownCmd() *cobra.Command {
	var unset bool
	cmd := hostBinaryCmd("force-down", "Mark a service down now, whatever its reports say (--unset to clear)",
		func(ctx context.Context, a *admin, host, binary string) (*servicegroup.Record, error) {
			return a.store.SetForcedDown(ctx, host, binary, !unset)
		})
	cmd.Flags().BoolVar(&unset, "unset", false, "clear the forced-down mark")
	return cmd
}

// checkStopped refuses to delete a service that still runs: one that is not
// down and whose last worker heartbeat does not say it stopped, since its
// topic's next status report would record it again.
func checkStopped(ctx context.Context, a *admin, c client.Client, host, binary string) error {
	recs, now, err := a.store.List(ctx, servicegroup.Filter{Host: host, Binary: binary})
	if err != nil {
		return err
	}
	if len(recs) != 1 || servicegroup.Status(recs[0], now, a.cfg.DownTime()) == servicegroup.Down {
		return nil
	}
	stopped, known, err := activities.Stopped(ctx, c, a.cfg.TemporalNamespace, recs[0].Topic, binary, host)
	switch {
	case err != nil:
		return fmt.Errorf("read the worker heartbeats of %s on %s: %w", binary, host, err)
	case stopped:
		return nil
	case !known:
		return fmt.Errorf("%s on %s is not down yet: stop it and wait until it shows down (service_down_time), or use --force", binary, host)
	}
	return fmt.Errorf("%s on %s is up: stop it first (its topic's next status report would record it again), or use --force", binary, host)
}

func newServiceDeleteCmd() *cobra.Command {
	var force bool
	cmd := hostBinaryCmd("delete", "Delete a service's record and its schedules",
		func(ctx context.Context, a *admin, host, binary string) (*servicegroup.Record, error) {
			rec, err := a.store.Get(ctx, host, binary)
			if err != nil {
				return nil, err
			}
			c, err := worker.Dial(ctx, a.cfg, discardLogger())
			if err != nil {
				return nil, err
			}
			defer c.Close()
			if !force {
				if err := checkStopped(ctx, a, c, host, binary); err != nil {
					return nil, err
				}
			}
			if err := worker.DeleteSchedules(ctx, c, rec.Topic, binary, host); err != nil {
				return nil, err
			}
			return a.store.Delete(ctx, host, binary)
		})
	cmd.Flags().BoolVar(&force, "force", false, "delete even when the service is up")
	return cmd
}
