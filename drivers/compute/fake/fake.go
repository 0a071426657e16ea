// Package fake is an in-memory compute driver, registered as "fake", for
// tests and for simulating many hosts in one process.
//
// It runs nothing: an instance is a record whose power state changes as the
// driver is told, at once and deterministically. Its process ids are
// synthetic (1000, 1001, ... per driver, a new one at each start). It
// enforces no capacity: like a hypervisor, it leaves that to the scheduler.
//
// Options (compute.Config.Options), all positive integers:
//
//	vcpus      host vCPUs        (default 16)
//	memory_mb  host memory in MB (default 32768)
//	disk_gb    host disk in GB   (default 500)
//
// Tests can make operations fail (FailNext, Fail) and simulate what happens
// to an instance on its own (SetPowerState, Exit).
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Name is the name the driver is registered under.
const Name = "fake"

// Default resources, used for options that are not set.
const (
	DefaultVCPUs    = 16
	DefaultMemoryMB = 32768
	DefaultDiskGB   = 500
)

// firstPID is the first synthetic process id of a driver.
const firstPID = 1000

func init() {
	compute.Register(Name, func(cfg compute.Config) (compute.Driver, error) {
		d, err := Open(cfg)
		if err != nil {
			return nil, err
		}
		return d, nil
	})
}

var _ compute.Driver = (*Driver)(nil)

// Driver is the fake compute driver. It is safe for concurrent use.
type Driver struct {
	resources compute.Resources

	mu        sync.Mutex
	closed    bool
	instances map[string]*instance
	nextPID   int
	failNext  map[Op][]error
	failures  map[failKey]error
}

type instance struct {
	inst      compute.Instance
	state     compute.PowerState
	pid       int
	startedAt time.Time
	exitCode  *int
}

// Open returns a new fake driver with no instances. Config.Host and
// Config.StateDir are not used; unknown options are an error.
func Open(cfg compute.Config) (*Driver, error) {
	res, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	return &Driver{
		resources: res,
		instances: make(map[string]*instance),
		nextPID:   firstPID,
		failNext:  make(map[Op][]error),
		failures:  make(map[failKey]error),
	}, nil
}

func parseOptions(opts map[string]string) (compute.Resources, error) {
	res := compute.Resources{VCPUs: DefaultVCPUs, MemoryMB: DefaultMemoryMB, DiskGB: DefaultDiskGB}
	fields := map[string]*int{"vcpus": &res.VCPUs, "memory_mb": &res.MemoryMB, "disk_gb": &res.DiskGB}
	for _, key := range slices.Sorted(maps.Keys(opts)) {
		p, ok := fields[key]
		if !ok {
			return res, fmt.Errorf("unknown option %q (known: %s)", key,
				strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		n, err := strconv.Atoi(opts[key])
		if err != nil || n <= 0 {
			return res, fmt.Errorf("option %s=%q: want a positive integer", key, opts[key])
		}
		*p = n
	}
	return res, nil
}

// begin checks what every operation checks first, in this order: the
// driver is open, ctx is not done, the arguments are valid (validate, may
// be nil), and no failure was injected for op on uuid. It is called with
// d.mu held.
func (d *Driver) begin(ctx context.Context, op Op, uuid string, validate func() error) error {
	if d.closed {
		return compute.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if validate != nil {
		if err := validate(); err != nil {
			return err
		}
	}
	return d.injected(op, uuid)
}

// lookup returns the instance or ErrNotFound; called with d.mu held.
func (d *Driver) lookup(uuid string) (*instance, error) {
	in, ok := d.instances[uuid]
	if !ok {
		return nil, fmt.Errorf("instance %q: %w", uuid, compute.ErrNotFound)
	}
	return in, nil
}

// start puts in into RUNNING with a new synthetic PID; called with d.mu held.
func (d *Driver) start(in *instance) {
	in.state = compute.Running
	in.pid = d.nextPID
	d.nextPID++
	in.startedAt = time.Now()
	in.exitCode = nil
}

func stop(in *instance) {
	in.state = compute.Shutdown
	in.pid = 0
}

// Spawn records the instance as RUNNING.
func (d *Driver) Spawn(ctx context.Context, inst compute.Instance) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpSpawn, inst.UUID, inst.Validate); err != nil {
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, err)
	}
	if _, ok := d.instances[inst.UUID]; ok {
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, compute.ErrExists)
	}
	inst.Command = slices.Clone(inst.Command)
	inst.Env = slices.Clone(inst.Env)
	in := &instance{inst: inst}
	d.start(in)
	d.instances[inst.UUID] = in
	return nil
}

// do runs the operation op on the instance uuid with d.mu held.
func (d *Driver) do(ctx context.Context, op Op, uuid string, f func(*instance)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, op, uuid, func() error { return compute.ValidateUUID(uuid) }); err != nil {
		return fmt.Errorf("%s instance %q: %w", op, uuid, err)
	}
	in, err := d.lookup(uuid)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	f(in)
	return nil
}

// PowerOff sets the instance to SHUTDOWN at once; timeout is not used.
func (d *Driver) PowerOff(ctx context.Context, uuid string, timeout time.Duration) error {
	return d.do(ctx, OpPowerOff, uuid, func(in *instance) {
		if in.state != compute.Shutdown {
			stop(in)
		}
	})
}

// PowerOn sets the instance to RUNNING with a new PID, unless it runs.
func (d *Driver) PowerOn(ctx context.Context, uuid string) error {
	return d.do(ctx, OpPowerOn, uuid, func(in *instance) {
		if in.state != compute.Running {
			d.start(in)
		}
	})
}

// Reboot sets the instance to RUNNING with a new PID, soft or hard alike.
func (d *Driver) Reboot(ctx context.Context, uuid string, hard bool) error {
	return d.do(ctx, OpReboot, uuid, func(in *instance) { d.start(in) })
}

// Destroy forgets the instance.
func (d *Driver) Destroy(ctx context.Context, uuid string) error {
	return d.do(ctx, OpDestroy, uuid, func(*instance) { delete(d.instances, uuid) })
}

// Info reports on the instance.
func (d *Driver) Info(ctx context.Context, uuid string) (compute.InstanceInfo, error) {
	var info compute.InstanceInfo
	err := d.do(ctx, OpInfo, uuid, func(in *instance) { info = in.info() })
	return info, err
}

func (in *instance) info() compute.InstanceInfo {
	info := compute.InstanceInfo{
		UUID:       in.inst.UUID,
		Name:       in.inst.Name,
		Flavor:     in.inst.Flavor,
		PowerState: in.state,
		PID:        in.pid,
		StartedAt:  in.startedAt,
	}
	if in.exitCode != nil {
		code := *in.exitCode
		info.ExitCode = &code
	}
	return info
}

// List reports on every instance, sorted by UUID.
func (d *Driver) List(ctx context.Context) ([]compute.InstanceInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpList, "", nil); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	infos := make([]compute.InstanceInfo, 0, len(d.instances))
	for _, uuid := range slices.Sorted(maps.Keys(d.instances)) {
		infos = append(infos, d.instances[uuid].info())
	}
	return infos, nil
}

// Resources returns the capacity set by the options.
func (d *Driver) Resources(ctx context.Context) (compute.Resources, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpResources, "", nil); err != nil {
		return compute.Resources{}, fmt.Errorf("get resources: %w", err)
	}
	return d.resources, nil
}

// Close makes every later call fail with compute.ErrClosed. The instances
// are kept in memory only, so they are lost with the driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
