package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/rpc"
)

func newInstanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instance",
		Short: "Create, list, show, reboot, stop, start and delete instances (like `openstack server ...`)",
		Long: `Instances of the reference control plane. create starts the conductor's build
workflow conductor.build_instances; reboot, stop, start and delete start
compute's methods (compute.reboot_instance, ...), which find the instance's
host themselves: the same executions 'temporal workflow start' would start
(docs/cli.md lists each one's raw temporal command). list and show read the
instances table; with NOVAFLOW_AUTH on and a NOVAFLOW_TOKEN they show the
token's project only, unless it is an admin's (docs/security.md).`,
		Example: `  novaflow instance create web --count 2 -- sleep 3600
  novaflow instance list
  novaflow instance reboot 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 --hard
  novaflow instance delete 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11`,
	}
	cmd.AddCommand(newInstanceCreateCmd(), newInstanceListCmd(), newInstanceShowCmd(),
		instanceOpCmd("reboot", "reboot_instance", "Reboot an instance (SOFT, or --hard)"),
		instanceOpCmd("stop", "stop_instance", "Stop (power off) an instance"),
		instanceOpCmd("start", "start_instance", "Start (power on) a stopped instance"),
		instanceOpCmd("delete", "terminate_instance", "Delete (terminate) an instance and detach its volumes"))
	return cmd
}

// instanceStore opens the instances table.
func instanceStore(ctx context.Context, c *conn) (*store.Store, error) {
	pool, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	return store.New(pool), nil
}

// scopedInstances is the instances table as the caller may read it: what
// instance list and show show, and what the completion of instance UUIDs
// offers, all through it so that they cannot differ.
type scopedInstances struct {
	st *store.Store
	// scoped says the caller sees project's instances only (none when
	// project is empty).
	scoped  bool
	project string
}

// openScopedInstances opens the instances table and says which project's
// instances the caller may see: with NOVAFLOW_AUTH on and a token
// (NOVAFLOW_TOKEN or _FILE), the token's project only (none for a token
// without a project), unless the policy's context_is_admin allows it, as
// nova's API lists and shows. Without a token the table is read as its
// database credentials allow: direct database access is admin-equivalent
// (docs/security.md). A token that does not verify is refused
// (Unauthenticated).
func openScopedInstances(ctx context.Context, c *conn) (scopedInstances, error) {
	st, err := instanceStore(ctx, c)
	if err != nil {
		return scopedInstances{}, err
	}
	who, err := verifyCaller(ctx, c.cfg)
	if err != nil {
		return scopedInstances{}, err
	}
	v := scopedInstances{st: st}
	if !who.seesEverything() {
		v.scoped, v.project = true, who.creds.ProjectID
	}
	return v, nil
}

// list lists the instances of f the caller may see (never nil).
func (v scopedInstances) list(ctx context.Context, f store.Filter) ([]store.Instance, error) {
	if v.scoped {
		if v.project == "" {
			return []store.Instance{}, nil
		}
		f.ProjectID = v.project
	}
	insts, err := v.st.List(ctx, f)
	if insts == nil && err == nil {
		insts = []store.Instance{}
	}
	return insts, err
}

// get returns an instance the caller may see: another project's is
// store.ErrNotFound, as nova answers.
func (v scopedInstances) get(ctx context.Context, uuid string) (store.Instance, error) {
	inst, err := v.st.Get(ctx, uuid)
	if err == nil && v.scoped && (v.project == "" || inst.ProjectID != v.project) {
		return store.Instance{}, store.ErrNotFound
	}
	return inst, err
}

// checkUUIDArg checks an instance or volume UUID argument.
func checkUUIDArg(field, s string) error {
	if err := managers.CheckUUID(field, s); err != nil {
		return usageError{err}
	}
	return nil
}

type createFlags struct {
	waitFlags
	count       int
	flavor      compute.Flavor
	env         []string
	uuids       []string
	maxAttempts int
}

func newInstanceCreateCmd() *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create NAME -- COMMAND [ARG...]",
		Short: "Build instances through the conductor (conductor.build_instances)",
		Long: `Build COUNT instances that run COMMAND (no shell) with the given flavor: the
conductor's workflow conductor.build_instances on task queue conductor,
workflow ID conductor.build_instances/-/<request id>. It schedules each
instance on a host, claims its resources, builds it there and reschedules to
an alternate host when a build fails. It waits for the outcome (a progress
line on a terminal; Ctrl-C stops waiting, not the build) and prints each
instance; an instance in ERROR makes it exit 3 (BuildFailed) with the fault.
With --no-wait it prints the workflow ID and returns. The same --request-id
again is the same build: it never builds twice and gives the same result.`,
		Example: `  novaflow instance create web -- sleep 3600
  novaflow instance create web --count 2 --vcpus 2 --memory-mb 128 -- /bin/sleep 3600
  novaflow instance create db --request-id req-db-1 --no-wait -- sleep 3600
  novaflow instance create web -o value -c instances.uuid -- sleep 3600`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return invalidInput("name", "missing: give the instance's name, then -- and its command")
			}
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return invalidInput("image.command", "missing: give the command after --, e.g. novaflow instance create web -- sleep 3600")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runInstanceCreate(cmd, f, args[0], args[1:]) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.count, "count", 1, "number of instances, named NAME-1, NAME-2, ... when more than one")
	fl.StringVar(&f.flavor.Name, "flavor", "", "the flavor's name, recorded with the instances")
	fl.IntVar(&f.flavor.VCPUs, "vcpus", 1, "vCPUs of each instance")
	fl.IntVar(&f.flavor.MemoryMB, "memory-mb", 64, "memory of each instance, MB")
	fl.IntVar(&f.flavor.DiskGB, "disk-gb", 1, "disk of each instance, GB")
	fl.StringArrayVar(&f.env, "env", nil, "KEY=VALUE of the command's environment (repeatable; the whole environment)")
	fl.StringSliceVar(&f.uuids, "uuid", nil, "the instances' UUIDs, one per instance (default: new ones)")
	fl.IntVar(&f.maxAttempts, "max-attempts", 0, "hosts each instance may be tried on (default: the scheduler's NOVAFLOW_SCHEDULER_MAX_ATTEMPTS)")
	f.waitFlags.add(cmd)
	return cmd
}

func runInstanceCreate(cmd *cobra.Command, f createFlags, name string, command []string) error {
	rid, err := f.id()
	if err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(name) == "":
		return invalidInput("name", "must not be empty")
	case f.count < 1 || f.count > conductor.MaxBuildCount:
		return invalidInput("count", "must be between 1 and %d, got %d", conductor.MaxBuildCount, f.count)
	case f.flavor.VCPUs < 1:
		return invalidInput("flavor.vcpus", "must be at least 1, got %d", f.flavor.VCPUs)
	case f.flavor.MemoryMB < 1:
		return invalidInput("flavor.memory_mb", "must be at least 1, got %d", f.flavor.MemoryMB)
	case f.flavor.DiskGB < 0:
		return invalidInput("flavor.disk_gb", "must not be negative, got %d", f.flavor.DiskGB)
	case f.maxAttempts < 0:
		return invalidInput("max_attempts", "must not be negative, got %d", f.maxAttempts)
	}
	for i, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return invalidInput(fmt.Sprintf("image.env[%d]", i), "%q: want KEY=VALUE", kv)
		}
	}
	uuids := f.uuids
	if len(uuids) > 0 {
		if len(uuids) != f.count {
			return invalidInput("instance_uuids", "%d UUIDs for --count %d: give one per instance", len(uuids), f.count)
		}
		if err := managers.CheckUUIDs("instance_uuids", uuids); err != nil {
			return usageError{err}
		}
	} else {
		// Made here, not by the workflow, so that the progress line can
		// follow the instances.
		for range f.count {
			uuids = append(uuids, uuid.NewString())
		}
	}
	req := conductor.BuildRequest{Name: name, Count: f.count, Flavor: f.flavor,
		Image: store.Image{Command: command, Env: f.env}, InstanceUUIDs: uuids, MaxAttempts: f.maxAttempts, RequestID: rid}

	ctx := cmd.Context()
	c, err := openConn()
	if err != nil {
		return err
	}
	defer c.close()
	tc, err := c.temporal(ctx)
	if err != nil {
		return err
	}
	// As `temporal workflow start --task-queue conductor --type
	// conductor.build_instances --workflow-id conductor.build_instances/-/<rid>
	// --id-conflict-policy UseExisting --id-reuse-policy RejectDuplicate`:
	// a request ID used before returns its execution, running or closed.
	id := rpc.WorkflowID(conductor.Topic, "build_instances", "", rid)
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: conductor.Topic,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, conductor.BuildInstancesName, req)
	if err != nil {
		return fmt.Errorf("start %s: %w", conductor.BuildInstancesName, err)
	}
	if f.noWait {
		return printStarted(cmd, started{WorkflowID: run.GetID(), RunID: run.GetRunID(), RequestID: rid})
	}
	var res conductor.BuildResult
	var failed *managers.Error
	err = wait(cmd, id, instancesProgress(c, uuids), func(ctx context.Context) error {
		err := run.Get(ctx, &res)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == conductor.BuildFailedType {
			failed = &managers.Error{Type: appErr.Type(), Message: appErr.Message()}
			if appErr.HasDetails() && appErr.Details(&res) == nil {
				return nil
			}
			return remoteError{e: failed}
		}
		if err != nil {
			if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
				return remoteError{e: e}
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := render(cmd, res, func(out io.Writer, o outputOpts) error {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "request %s\n", res.RequestID)
		fmt.Fprintf(tw, "UUID\tNAME\tHOST\t%s\tATTEMPTS\tFAULT\n", o.paint("VM STATE"))
		for _, i := range res.Instances {
			var tried []string
			for _, a := range i.Attempts {
				tried = append(tried, a.Host)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.UUID, i.Name, orDash(i.Host), o.paint(i.VMState),
				orDash(strings.Join(tried, ",")), orDash(i.Fault))
		}
		return tw.Flush()
	}); err != nil {
		return err
	}
	if failed != nil {
		return remoteError{e: failed, rendered: true}
	}
	return nil
}

// instancesProgress says where the instances are, from the rows the caller
// may see (scopedInstances): a wait on another project's instance, which its
// service refuses, shows nothing of it meanwhile.
func instancesProgress(c *conn, uuids []string) func(ctx context.Context) string {
	var (
		mu sync.Mutex
		v  *scopedInstances
	)
	return func(ctx context.Context) string {
		mu.Lock()
		defer mu.Unlock()
		if v == nil {
			s, err := openScopedInstances(ctx, c)
			if err != nil {
				return ""
			}
			v = &s
		}
		insts, err := v.list(ctx, store.Filter{UUIDs: uuids, Deleted: true})
		if err != nil {
			return ""
		}
		var parts []string
		for _, i := range insts {
			s := fmt.Sprintf("%s %s", i.Name, i.VMState)
			if i.TaskState != "" {
				s += "/" + string(i.TaskState)
			}
			if i.Host != "" {
				s += " on " + i.Host
			}
			parts = append(parts, s)
		}
		if len(parts) == 0 {
			return "starting"
		}
		return strings.Join(parts, ", ")
	}
}

// instanceProgress follows one instance.
func instanceProgress(uuid string) func(*conn) func(context.Context) string {
	return func(c *conn) func(context.Context) string { return instancesProgress(c, []string{uuid}) }
}

// instanceOpCmd builds `instance <verb> UUID`: compute's method on the
// instance, as `temporal workflow start --task-queue compute --type
// compute.<method> --workflow-id compute.<method>/-/<rid>` would start it.
func instanceOpCmd(verb, method, short string) *cobra.Command {
	var w waitFlags
	var hard, force bool
	cmd := &cobra.Command{
		Use:   verb + " UUID",
		Short: short + " (compute." + method + ")",
		Long: short + `: compute's method compute.` + method + ` on task queue compute, which
finds the instance's host; workflow ID compute.` + method + `/-/<request id>.
It waits for the outcome (a progress line on a terminal; Ctrl-C stops
waiting, not the operation) and prints the instance. A service's typed error
(NotFound, Conflict: wrong state, ...) exits 3 with its type and message.`,
		Example: fmt.Sprintf(`  novaflow instance %[1]s 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11
  novaflow instance %[1]s 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 --request-id req-42 --no-wait
  novaflow instance %[1]s 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 -o json`, verb),
		Args: exactArgs("instance_uuid"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUUIDArg("instance_uuid", args[0]); err != nil {
				return err
			}
			rid, err := w.id()
			if err != nil {
				return err
			}
			req := map[string]any{"instance_uuid": args[0], "request_id": rid}
			switch {
			case hard:
				req["reboot_type"] = computemgr.RebootHard
			case force:
				req["force"] = true
			}
			var inst store.Instance
			return operate(cmd, w, "compute", method, rid, req, nil, &inst, instanceProgress(args[0]), func() error {
				return renderInstance(cmd, inst, nil)
			})
		},
	}
	switch verb {
	case "reboot":
		cmd.Flags().BoolVar(&hard, "hard", false, "a HARD reboot: kill and start again (recreates an instance its driver lost); default SOFT")
	case "stop":
		cmd.Flags().BoolVar(&force, "force", false, "power off at once instead of waiting for a clean shutdown")
	}
	w.add(cmd)
	return cmd
}

// operate casts method of topic with req (rpc.Client.Cast: task queue
// topic, or the host's with opts' ToHost) under request ID rid, then waits
// for its result into resp and calls show, or with --no-wait prints the
// started execution.
func operate(cmd *cobra.Command, w waitFlags, topic, method, rid string, req any, opts []rpc.CallOption, resp any,
	progress func(*conn) func(context.Context) string, show func() error) error {
	if err := checkRequest(topic, method, req); err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := openConn()
	if err != nil {
		return err
	}
	defer c.close()
	calls, err := c.rpc(ctx)
	if err != nil {
		return err
	}
	exec, err := calls.Cast(ctx, topic, method, req, append(opts, rpc.RequestID(rid))...)
	if err != nil {
		return typed(err)
	}
	if w.noWait {
		return printStarted(cmd, started{WorkflowID: exec.WorkflowID, RunID: exec.RunID, RequestID: rid})
	}
	var p func(context.Context) string
	if progress != nil {
		p = progress(c)
	}
	if err := wait(cmd, exec.WorkflowID, p, func(ctx context.Context) error {
		return typed(calls.Result(ctx, exec, resp))
	}); err != nil {
		return err
	}
	return show()
}

func newInstanceListCmd() *cobra.Command {
	var f store.Filter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List instances with their host and states",
		Example: `  novaflow instance list
  novaflow instance list --host node1 --deleted
  novaflow instance list -o value -c uuid,vm_state`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := openConn()
			if err != nil {
				return err
			}
			defer c.close()
			v, err := openScopedInstances(ctx, c)
			if err != nil {
				return err
			}
			insts, err := v.list(ctx, f)
			if err != nil {
				return err
			}
			return render(cmd, insts, func(out io.Writer, o outputOpts) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "UUID\tNAME\tHOST\t%s\tTASK STATE\tPOWER STATE\tFLAVOR\tCOMMAND\tFAULT\n", o.paint("VM STATE"))
				for _, i := range insts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.UUID, i.Name, orDash(i.Host), o.paint(string(i.VMState)),
						orDash(string(i.TaskState)), i.PowerState, flavorString(i), strings.Join(i.Image.Command, " "), i.Fault)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&f.Host, "host", "", "only instances on this host")
	cmd.Flags().BoolVar(&f.Deleted, "deleted", false, "include deleted instances")
	addJSONAlias(cmd)
	return cmd
}

func newInstanceShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show UUID",
		Short: "Show one instance and the audit trail of its operations",
		Example: `  novaflow instance show 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11
  novaflow instance show 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11 -o value -c vm_state`,
		Args: exactArgs("instance_uuid"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUUIDArg("instance_uuid", args[0]); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := openConn()
			if err != nil {
				return err
			}
			defer c.close()
			v, err := openScopedInstances(ctx, c)
			if err != nil {
				return err
			}
			inst, err := v.get(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return remoteError{e: managers.NotFound("instance", args[0])}
			}
			if err != nil {
				return err
			}
			actions, err := v.st.Actions(ctx, inst.UUID)
			if err != nil {
				return err
			}
			return renderInstance(cmd, inst, actions)
		},
	}
	addJSONAlias(cmd)
	return cmd
}

// renderInstance prints an instance (and its actions, when given).
func renderInstance(cmd *cobra.Command, inst store.Instance, actions []store.Action) error {
	var v any = inst
	if actions != nil {
		v = struct {
			store.Instance
			Actions []store.Action `json:"actions"`
		}{inst, actions}
	}
	return render(cmd, v, func(out io.Writer, o outputOpts) error {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, kv := range [][2]string{
			{"uuid", inst.UUID}, {"name", inst.Name}, {"host", orDash(inst.Host)},
			{"vm_state", o.paint(string(inst.VMState))}, {"task_state", orDash(string(inst.TaskState))},
			{"power_state", string(inst.PowerState)}, {"flavor", flavorString(inst)},
			{"command", strings.Join(inst.Image.Command, " ")}, {"fault", orDash(inst.Fault)},
			{"created_at", inst.CreatedAt.UTC().Format(time.RFC3339)}, {"deleted", fmt.Sprint(inst.Deleted)},
		} {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
		tw.Flush()
		if actions != nil {
			fmt.Fprintln(out, "\nactions:")
			printActions(out, actions)
		}
		return nil
	})
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

// exactArgs wants one positional argument per name, and names the missing
// or extra ones.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return invalidInput(names[len(args)], "missing (usage: %s)", cmd.UseLine())
		}
		if len(args) > len(names) {
			return usagef("%d arguments, want %d: %s (usage: %s)", len(args), len(names), strings.Join(names, " "), cmd.UseLine())
		}
		return nil
	}
}
