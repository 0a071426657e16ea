package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers/compute/store"
)

func newInstanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instance",
		Short: "Show the reference control plane's instances (like `openstack server list/show`)",
	}
	cmd.AddCommand(newInstanceListCmd(), newInstanceShowCmd())
	return cmd
}

func newInstanceListCmd() *cobra.Command {
	var f store.Filter
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List instances with their host and states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := openAdmin(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			insts, err := store.New(a.pool).List(ctx, f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), insts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UUID\tNAME\tHOST\tVM STATE\tTASK STATE\tPOWER STATE\tFLAVOR\tCOMMAND\tFAULT")
			for _, i := range insts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.UUID, i.Name, orDash(i.Host), i.VMState,
					orDash(string(i.TaskState)), i.PowerState, flavorString(i), strings.Join(i.Image.Command, " "), i.Fault)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Host, "host", "", "only instances on this host")
	cmd.Flags().BoolVar(&f.Deleted, "deleted", false, "include deleted instances")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func newInstanceShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show UUID",
		Short: "Show one instance and the audit trail of its operations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := openAdmin(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			st := store.New(a.pool)
			inst, err := st.Get(ctx, args[0])
			if err != nil {
				return err
			}
			actions, err := st.Actions(ctx, inst.UUID)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					store.Instance
					Actions []store.Action `json:"actions"`
				}{inst, actions})
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, kv := range [][2]string{
				{"uuid", inst.UUID}, {"name", inst.Name}, {"host", orDash(inst.Host)},
				{"vm_state", string(inst.VMState)}, {"task_state", orDash(string(inst.TaskState))},
				{"power_state", string(inst.PowerState)}, {"flavor", flavorString(inst)},
				{"command", strings.Join(inst.Image.Command, " ")}, {"fault", orDash(inst.Fault)},
				{"created_at", inst.CreatedAt.UTC().Format(time.RFC3339)}, {"deleted", fmt.Sprint(inst.Deleted)},
			} {
				fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
			}
			tw.Flush()
			fmt.Fprintln(out, "\nactions:")
			printActions(out, actions)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printActions(out io.Writer, actions []store.Action) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  START\tACTION\tHOST\tRESULT\tREQUEST\tMESSAGE")
	for _, a := range actions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", a.StartTime.UTC().Format(time.RFC3339), a.Action,
			orDash(a.Host), orDash(a.Result), a.RequestID, a.Message)
	}
	tw.Flush()
}

func flavorString(i store.Instance) string {
	return fmt.Sprintf("%dvcpu/%dMB/%dGB", i.Flavor.VCPUs, i.Flavor.MemoryMB, i.Flavor.DiskGB)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
