package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
)

func newHostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "List and show compute hosts with capacity, usage and instances (like `openstack hypervisor ...`)",
		Long: `Compute hosts as the scheduler sees them: the compute_nodes table (capacity
as the host's driver reports it, usage of the instances claimed on it), the
number of live instances on each, and the state of its compute service.`,
		Example: `  novaflow host list
  novaflow host show node1
  novaflow host list -o value -c host,vcpus_free`,
	}
	cmd.AddCommand(newHostListCmd(), newHostShowCmd())
	return cmd
}

// hostView is one compute host.
type hostView struct {
	store.Node
	VCPUsFree    int    `json:"vcpus_free"`
	MemoryMBFree int    `json:"memory_mb_free"`
	DiskGBFree   int    `json:"disk_gb_free"`
	Instances    int    `json:"instances"`
	Status       string `json:"status"` // enabled or disabled: its compute service's
	State        string `json:"state"`  // up, down or unknown; "" without a service row
}

// hosts reads the compute hosts (only host, when set); with NOVAFLOW_AUTH on
// and a token, only for an admin (requireAdmin).
func hosts(ctx context.Context, c *conn, host string) ([]hostView, []store.Instance, error) {
	if err := requireAdmin(ctx, c.cfg); err != nil {
		return nil, nil, err
	}
	pool, err := c.db(ctx)
	if err != nil {
		return nil, nil, err
	}
	st := store.New(pool)
	var nodes []store.Node
	if host != "" {
		n, err := st.Node(ctx, host)
		if errors.Is(err, store.ErrNoNode) {
			return nil, nil, remoteError{e: managers.NotFound("compute host", host)}
		}
		if err != nil {
			return nil, nil, err
		}
		nodes = []store.Node{n}
	} else if nodes, err = st.Nodes(ctx); err != nil {
		return nil, nil, err
	}
	insts, err := st.List(ctx, store.Filter{Host: host})
	if err != nil {
		return nil, nil, err
	}
	count := map[string]int{}
	for _, i := range insts {
		count[i.Host]++
	}
	recs, now, err := servicegroup.NewStore(pool).List(ctx, servicegroup.Filter{Topic: computemgr.Topic, Host: host})
	if err != nil {
		return nil, nil, err
	}
	svc := map[string]servicegroup.Record{}
	for _, r := range recs {
		svc[r.Host] = r
	}
	views := make([]hostView, 0, len(nodes))
	for _, n := range nodes {
		free := n.Free()
		v := hostView{Node: n, VCPUsFree: free.VCPUs, MemoryMBFree: free.MemoryMB, DiskGBFree: free.DiskGB, Instances: count[n.Host]}
		if r, ok := svc[n.Host]; ok {
			v.Status, v.State = "enabled", string(servicegroup.Status(r, now, c.cfg.DownTime()))
			if r.Disabled {
				v.Status = "disabled"
			}
		}
		views = append(views, v)
	}
	return views, insts, nil
}

func newHostListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List compute hosts: capacity, usage, instances, service state",
		Example: `  novaflow host list
  novaflow host list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := openConn()
			if err != nil {
				return err
			}
			defer c.close()
			views, _, err := hosts(cmd.Context(), c, "")
			if err != nil {
				return err
			}
			return render(cmd, views, func(out io.Writer, o outputOpts) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "HOST\t%s\t%s\tVCPUS USED/TOTAL\tMEMORY MB USED/TOTAL\tDISK GB USED/TOTAL\tINSTANCES\tUPDATED\n", o.paint("STATE"), o.paint("STATUS"))
				for _, v := range views {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%d/%d\t%d\t%s\n", v.Host, o.paint(orDash(v.State)), o.paint(orDash(v.Status)),
						v.VCPUsUsed, v.VCPUs, v.MemoryMBUsed, v.MemoryMB, v.DiskGBUsed, v.DiskGB, v.Instances, v.UpdatedAt.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	return cmd
}

func newHostShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show HOST",
		Short: "Show a compute host and its instances",
		Example: `  novaflow host show node1
  novaflow host show node1 -o value -c instances`,
		Args: exactArgs("host"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !validHostArg(args[0]) {
				return invalidInput("host", "%q is not a host name", args[0])
			}
			c, err := openConn()
			if err != nil {
				return err
			}
			defer c.close()
			views, insts, err := hosts(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			v := views[0]
			if insts == nil {
				insts = []store.Instance{}
			}
			doc := struct {
				hostView
				InstanceList []store.Instance `json:"instance_list"`
			}{v, insts}
			return render(cmd, doc, func(out io.Writer, o outputOpts) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				for _, kv := range [][2]string{
					{"host", v.Host}, {"state", o.paint(orDash(v.State))}, {"status", o.paint(orDash(v.Status))},
					{"vcpus", fmt.Sprintf("%d used of %d (%d free)", v.VCPUsUsed, v.VCPUs, v.VCPUsFree)},
					{"memory_mb", fmt.Sprintf("%d used of %d (%d free)", v.MemoryMBUsed, v.MemoryMB, v.MemoryMBFree)},
					{"disk_gb", fmt.Sprintf("%d used of %d (%d free)", v.DiskGBUsed, v.DiskGB, v.DiskGBFree)},
					{"instances", fmt.Sprint(v.Instances)}, {"updated_at", v.UpdatedAt.UTC().Format(time.RFC3339)},
				} {
					fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
				}
				tw.Flush()
				fmt.Fprintln(out, "\ninstances:")
				tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "  UUID\tNAME\t%s\tFLAVOR\n", o.paint("VM STATE"))
				for _, i := range insts {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", i.UUID, i.Name, o.paint(string(i.VMState)), flavorString(i))
				}
				return tw.Flush()
			})
		},
	}
	return cmd
}

// validHostArg reports whether s can be a host name.
func validHostArg(s string) bool { return rpc.ValidHost(s) }
