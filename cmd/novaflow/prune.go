package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/worker"
)

func newServicePruneCmd() *cobra.Command {
	var olderThan string
	var yes bool
	var f servicegroup.Filter
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete the services that have been down for longer than DURATION, with their schedules",
		Long: `Delete the rows of services that are down and were last seen up (or, never
seen, created) longer than DURATION ago, with their schedules, as 'service
delete' does for one row: hosts that are gone for good. It lists them and asks
for a confirmation on standard input, unless --yes. A service seen up again
since it was listed (one that came back while the prompt waited) is skipped,
and said so on standard error: it keeps its row and its schedules.`,
		Example: `  novaflow service prune --older-than 24h
  novaflow service prune --older-than 7d --topic compute --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				return invalidInput("older-than", "missing: give --older-than DURATION, e.g. 24h or 7d")
			}
			d, err := parseAge(olderThan)
			if err != nil {
				return err
			}
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
			var stale []servicegroup.Record
			for _, r := range recs {
				seen := r.CreatedAt
				if r.LastSeenUp != nil {
					seen = *r.LastSeenUp
				}
				if servicegroup.Status(r, now, a.cfg.DownTime()) == servicegroup.Down && now.Sub(seen) > d {
					stale = append(stale, r)
				}
			}
			errOut := cmd.ErrOrStderr()
			if len(stale) == 0 {
				fmt.Fprintf(errOut, "no service has been down for longer than %s\n", d)
				return render(cmd, []servicegroup.Record{}, func(io.Writer, outputOpts) error { return nil })
			}
			if !yes {
				tw := tabwriter.NewWriter(errOut, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HOST\tBINARY\tLAST SEEN UP")
				for _, r := range stale {
					seen := "never"
					if r.LastSeenUp != nil {
						seen = fmt.Sprintf("%s (%s ago)", r.LastSeenUp.UTC().Format(time.RFC3339), now.Sub(*r.LastSeenUp).Round(time.Second))
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Host, r.Binary, seen)
				}
				tw.Flush()
				fmt.Fprintf(errOut, "Delete these %d %s and their schedules? [y/N] ", len(stale), plural(len(stale), "service", "services"))
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				answer := strings.ToLower(strings.TrimSpace(line))
				if answer == "" && err != nil {
					return usagef("no answer on standard input: nothing deleted (use --yes to delete without asking)")
				}
				if answer != "y" && answer != "yes" {
					return fmt.Errorf("not confirmed: nothing deleted")
				}
			}
			c, err := worker.Dial(ctx, a.cfg, discardLogger())
			if err != nil {
				return err
			}
			defer c.Close()
			// The row goes only if the service was not seen up since it was
			// listed (it may have come back while the prompt waited), and its
			// schedules only after its row: a service that is back keeps both.
			deleted := []servicegroup.Record{}
			for _, r := range stale {
				rec, err := a.store.DeleteUnseen(ctx, r.Host, r.Binary, r.LastSeenUp)
				switch {
				case errors.Is(err, servicegroup.ErrSeen):
					fmt.Fprintf(errOut, "skipped %s on %s: it was seen up since it was listed\n", r.Binary, r.Host)
					continue
				case errors.Is(err, servicegroup.ErrNotFound):
					fmt.Fprintf(errOut, "skipped %s on %s: it was deleted meanwhile\n", r.Binary, r.Host)
					continue
				case err != nil:
					return fmt.Errorf("%s on %s: %w", r.Binary, r.Host, err)
				}
				if err := worker.DeleteSchedules(ctx, c, r.Topic, r.Binary, r.Host); err != nil {
					return fmt.Errorf("%s on %s: its row is deleted but not all its schedules ('temporal schedule list' shows them, 'temporal schedule delete' deletes one): %w", r.Binary, r.Host, err)
				}
				deleted = append(deleted, *rec)
			}
			return render(cmd, deleted, func(out io.Writer, _ outputOpts) error {
				for _, r := range deleted {
					fmt.Fprintf(out, "deleted %s on %s and its schedules\n", r.Binary, r.Host)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "how long a service must have been down, e.g. 24h or 7d")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	cmd.Flags().StringVar(&f.Host, "host", "", "only services on this host")
	cmd.Flags().StringVar(&f.Binary, "binary", "", "only this binary (or topic)")
	cmd.Flags().StringVar(&f.Topic, "topic", "", "only this topic")
	return cmd
}

// parseAge parses a duration: a number of days (7d) or a Go duration (90m).
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, invalidInput("older-than", "%q: want a positive duration, e.g. 24h or 7d", s)
	}
	return d, nil
}
