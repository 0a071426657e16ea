package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/rpc"
)

func newVolumeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Create, list, show, attach, detach and delete volumes (like `openstack volume ...`)",
		Long: `Volumes of the reference control plane's volume service. Each command is one
RPC method, started as 'temporal workflow start' would: create and delete are
volume.create_volume and volume.delete_volume on task queue volume (or
volume.<host>), list and show are volume.list_volumes, attach and detach go
through compute (compute.attach_volume, compute.detach_volume), which runs on
the instance's host and asks the volume service.`,
		Example: `  novaflow volume create --size 1 --name data
  novaflow volume attach 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11
  novaflow volume list --deleted`,
	}
	cmd.AddCommand(newVolumeCreateCmd(), newVolumeListCmd(), newVolumeShowCmd(),
		volumeAttachCmd("attach", "attach_volume", "Attach a volume to an instance"),
		volumeAttachCmd("detach", "detach_volume", "Detach a volume from an instance"),
		newVolumeDeleteCmd())
	return cmd
}

func newVolumeCreateCmd() *cobra.Command {
	var w waitFlags
	var req volume.CreateRequest
	var host string
	cmd := &cobra.Command{
		Use:   "create --size GB [--name NAME]",
		Short: "Create a volume (volume.create_volume)",
		Long: `Create a volume: volume.create_volume on task queue volume (any host), or
volume.<host> with --host; workflow ID volume.create_volume/<host or ->/<request id>.
The volume's UUID is --id, else a new one.`,
		Example: `  novaflow volume create --size 1 --name data
  novaflow volume create --size 10 --host node1 --id 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11
  novaflow volume create --size 1 -o value -c id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("size") {
				return invalidInput("size_gb", "missing: give --size GB")
			}
			if req.VolumeID == "" {
				req.VolumeID = uuid.NewString()
			}
			rid, err := w.id()
			if err != nil {
				return err
			}
			var opts []rpc.CallOption
			if host != "" {
				if !rpc.ValidHost(host) {
					return invalidInput(managers.HostField, "%q is not a host name", host)
				}
				opts = append(opts, rpc.ToHost(host))
			}
			var v volume.Volume
			return operate(cmd, w, volume.Topic, "create_volume", rid, req, opts, &v, nil, func() error { return renderVolumes(cmd, v, []volume.Volume{v}) })
		},
	}
	cmd.Flags().IntVar(&req.SizeGB, "size", 0, "size in GiB")
	cmd.Flags().StringVar(&req.Name, "name", "", "display name")
	cmd.Flags().StringVar(&req.VolumeID, "id", "", "the volume's UUID (default: a new one)")
	cmd.Flags().StringVar(&host, "host", "", "the host that keeps the volume (default: any)")
	w.add(cmd)
	return cmd
}

func newVolumeDeleteCmd() *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "delete VOLUME_ID",
		Short: "Delete a volume that is not attached (volume.delete_volume)",
		Long: `Delete a volume: volume.delete_volume on task queue volume, which runs on the
volume's host. An attached volume is refused with a Conflict (exit 3).`,
		Example: `  novaflow volume delete 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11`,
		Args:    exactArgs("volume_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUUIDArg("volume_id", args[0]); err != nil {
				return err
			}
			rid, err := w.id()
			if err != nil {
				return err
			}
			var v volume.Volume
			return operate(cmd, w, volume.Topic, "delete_volume", rid, volume.DeleteRequest{VolumeID: args[0]}, nil, &v, nil,
				func() error { return renderVolumes(cmd, v, []volume.Volume{v}) })
		},
	}
	w.add(cmd)
	return cmd
}

// volumeAttachCmd builds `volume attach|detach VOLUME INSTANCE`, through
// compute as the instance's host must make the volume visible.
func volumeAttachCmd(verb, method, short string) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   verb + " VOLUME_ID INSTANCE_UUID",
		Short: short + " (compute." + method + ")",
		Long: short + `: compute.` + method + ` on task queue compute, which runs on the
instance's host and calls volume.` + method + `; workflow ID
compute.` + method + `/-/<request id>.`,
		Example: fmt.Sprintf(`  novaflow volume %s 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11`, verb),
		Args:    exactArgs("volume_id", "instance_uuid"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUUIDArg("volume_id", args[0]); err != nil {
				return err
			}
			if err := checkUUIDArg("instance_uuid", args[1]); err != nil {
				return err
			}
			rid, err := w.id()
			if err != nil {
				return err
			}
			req := map[string]any{"instance_uuid": args[1], "volume_id": args[0], "request_id": rid}
			var v volume.Volume
			return operate(cmd, w, "compute", method, rid, req, nil, &v, nil, func() error { return renderVolumes(cmd, v, []volume.Volume{v}) })
		},
	}
	w.add(cmd)
	return cmd
}

func newVolumeListCmd() *cobra.Command {
	var req volume.ListRequest
	var status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List volumes (volume.list_volumes)",
		Example: `  novaflow volume list
  novaflow volume list --instance 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11
  novaflow volume list --status available -o value -c id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Status = volume.Status(status)
			vols, err := listVolumes(cmd, req)
			if err != nil {
				return err
			}
			return renderVolumes(cmd, vols, vols)
		},
	}
	cmd.Flags().StringVar(&req.InstanceUUID, "instance", "", "only the volumes attached to this instance")
	cmd.Flags().StringVar(&status, "status", "", "only volumes in this status (available, in-use, error, ...)")
	cmd.Flags().BoolVar(&req.Deleted, "deleted", false, "include deleted volumes")
	return cmd
}

func listVolumes(cmd *cobra.Command, req volume.ListRequest) ([]volume.Volume, error) {
	if err := checkRequest(volume.Topic, "list_volumes", req); err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	c, err := openConn()
	if err != nil {
		return nil, err
	}
	defer c.close()
	calls, err := c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	var res volume.ListResult
	if err := calls.Call(ctx, volume.Topic, "list_volumes", req, &res); err != nil {
		return nil, typed(err)
	}
	if res.Volumes == nil {
		res.Volumes = []volume.Volume{}
	}
	return res.Volumes, nil
}

func newVolumeShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show VOLUME_ID",
		Short:   "Show a volume, deleted ones included (volume.list_volumes)",
		Example: `  novaflow volume show 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 -o value -c status`,
		Args:    exactArgs("volume_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUUIDArg("volume_id", args[0]); err != nil {
				return err
			}
			vols, err := listVolumes(cmd, volume.ListRequest{Deleted: true})
			if err != nil {
				return err
			}
			for _, v := range vols {
				if v.ID == args[0] {
					return renderVolumes(cmd, v, []volume.Volume{v})
				}
			}
			return remoteError{e: managers.NotFound("volume", args[0])}
		},
	}
	return cmd
}

// renderVolumes prints doc (a volume or a list) as a table of vols.
func renderVolumes(cmd *cobra.Command, doc any, vols []volume.Volume) error {
	return render(cmd, doc, func(out io.Writer, o outputOpts) error {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tNAME\tSIZE GB\tHOST\t%s\tINSTANCE\tMOUNTPOINT\tCREATED\n", o.paint("STATUS"))
		for _, v := range vols {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.ID, orDash(v.Name), v.SizeGB, v.Host, o.paint(string(v.Status)),
				orDash(v.InstanceUUID), orDash(v.Mountpoint), v.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}
