//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Name is the name the driver is registered under.
const Name = "process"

// DefaultSoftRebootTimeout is the default of the soft_reboot_timeout option.
const DefaultSoftRebootTimeout = 120 * time.Second

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

// Driver is the process compute driver. It is safe for concurrent use;
// the operations that change one instance are serialized.
type Driver struct {
	stateDir          string
	instancesDir      string
	softRebootTimeout time.Duration
	allowRelative     bool     // compute.Config.AllowRelativeCommands
	lockFile          *os.File // holds the exclusive lock on <StateDir>/lock

	mu        sync.Mutex
	closed    bool
	instances map[string]*instance
	ops       sync.WaitGroup // calls in progress, waited for by Close
}

// Open opens the driver on cfg.StateDir (required; created if missing) and
// adopts the instances found there. It fails if another driver holds the
// StateDir or an option is unknown or malformed.
func Open(cfg compute.Config) (*Driver, error) {
	d, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	return d, nil
}

func open(cfg compute.Config) (*Driver, error) {
	softReboot, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, errors.New("state dir is not set")
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	d := &Driver{
		stateDir:          stateDir,
		instancesDir:      filepath.Join(stateDir, "instances"),
		softRebootTimeout: softReboot,
		allowRelative:     cfg.AllowRelativeCommands,
		instances:         make(map[string]*instance),
	}
	if err := os.MkdirAll(d.instancesDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if d.lockFile, err = lockDir(stateDir); err != nil {
		return nil, err
	}
	if err := d.adopt(); err != nil {
		_ = d.lockFile.Close()
		return nil, err
	}
	return d, nil
}

func parseOptions(opts map[string]string) (softReboot time.Duration, err error) {
	softReboot = DefaultSoftRebootTimeout
	for _, key := range slices.Sorted(maps.Keys(opts)) {
		switch key {
		case "soft_reboot_timeout":
			softReboot, err = time.ParseDuration(opts[key])
			if err != nil || softReboot < 0 {
				return 0, fmt.Errorf("option %s=%q: want a duration of zero or more, like 120s", key, opts[key])
			}
		default:
			return 0, fmt.Errorf("unknown option %q (known: soft_reboot_timeout)", key)
		}
	}
	return softReboot, nil
}

// lockDir takes an exclusive, non-blocking lock on dir/lock, held as long
// as the returned file is open (the file is close-on-exec, so instances do
// not inherit it).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is in use by another process driver", dir)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return f, nil
}

// adopt loads every instance directory of the state dir. An instance whose
// recorded process is alive (same pid and start time) is RUNNING; one whose
// state.json cannot be read is NOSTATE.
func (d *Driver) adopt() error {
	entries, err := os.ReadDir(d.instancesDir)
	if err != nil {
		return fmt.Errorf("adopt instances: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || compute.ValidateUUID(e.Name()) != nil {
			continue
		}
		in := newInstance(e.Name(), filepath.Join(d.instancesDir, e.Name()))
		removeTemps(in.dir)
		st, err := readState(in.dir)
		switch {
		case err != nil:
			in.broken = err
		case st.PID > 0 && processAlive(st.PID, st.StartTicks):
			in.run = newRun(st.PID, st.StartTicks, st.StartedAt, false)
			fallthrough
		default:
			in.st = st
		}
		d.instances[in.uuid] = in
	}
	return nil
}

// enter registers a call in progress, or fails once the driver is closed.
func (d *Driver) enter() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return compute.ErrClosed
	}
	d.ops.Add(1)
	return nil
}

func (d *Driver) lookup(uuid string) (*instance, error) {
	d.mu.Lock()
	in, ok := d.instances[uuid]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("instance %q: %w", uuid, compute.ErrNotFound)
	}
	return in, nil
}

// operate runs f on the instance uuid holding its operation lock, after
// the checks every operation makes: the driver is open, ctx is not done,
// the UUID is valid and known.
func (d *Driver) operate(ctx context.Context, what, uuid string, f func(*instance) error) error {
	if err := d.enter(); err != nil {
		return fmt.Errorf("%s instance %q: %w", what, uuid, err)
	}
	defer d.ops.Done()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s instance %q: %w", what, uuid, err)
	}
	if err := compute.ValidateUUID(uuid); err != nil {
		return err
	}
	in, err := d.lookup(uuid)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := in.lock(ctx); err != nil {
		return fmt.Errorf("%s instance %q: %w", what, uuid, err)
	}
	defer in.unlock()
	in.mu.Lock()
	gone := in.gone
	in.mu.Unlock()
	if gone {
		return fmt.Errorf("%s: instance %q: %w", what, uuid, compute.ErrNotFound)
	}
	return f(in)
}

// Spawn creates the instance's directory and state, and starts its process.
func (d *Driver) Spawn(ctx context.Context, inst compute.Instance) error {
	if err := d.enter(); err != nil {
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, err)
	}
	defer d.ops.Done()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, err)
	}
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := checkProgram(inst.Command[0], instanceEnv(inst.Env), d.allowRelative); err != nil {
		return err
	}
	inst.Command = slices.Clone(inst.Command)
	inst.Env = slices.Clone(inst.Env)

	in := newInstance(inst.UUID, filepath.Join(d.instancesDir, inst.UUID))
	_ = in.lock(context.Background()) // new: free
	defer in.unlock()
	d.mu.Lock()
	if _, ok := d.instances[inst.UUID]; ok {
		d.mu.Unlock()
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, compute.ErrExists)
	}
	d.instances[inst.UUID] = in
	d.mu.Unlock()

	if err := d.create(in, inst); err != nil {
		in.mu.Lock()
		in.gone = true
		in.mu.Unlock()
		d.mu.Lock()
		delete(d.instances, inst.UUID)
		d.mu.Unlock()
		return err
	}
	return nil
}

// create makes the directory and state of a new instance and starts it;
// on failure it removes what it made.
func (d *Driver) create(in *instance, inst compute.Instance) (err error) {
	if err := os.Mkdir(in.dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("spawn instance %q: directory %s: %w", inst.UUID, in.dir, compute.ErrExists)
		}
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, err)
	}
	defer func() {
		if err != nil {
			if rerr := os.RemoveAll(in.dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up: %w", rerr))
			}
		}
	}()
	st := newState(inst)
	if err := in.save(st); err != nil {
		return fmt.Errorf("spawn instance %q: %w", inst.UUID, err)
	}
	return in.start()
}

// PowerOff stops the instance's processes: SIGTERM, then SIGKILL after
// timeout (at once if timeout <= 0).
func (d *Driver) PowerOff(ctx context.Context, uuid string, timeout time.Duration) error {
	return d.operate(ctx, "power off", uuid, func(in *instance) error {
		st, err := in.state()
		if err != nil {
			return fmt.Errorf("power off: %w", err)
		}
		if st.Desired != compute.Shutdown {
			st.Desired = compute.Shutdown
			if err := in.save(st); err != nil {
				return fmt.Errorf("power off instance %q: %w", uuid, err)
			}
		}
		if err := in.stop(ctx, timeout); err != nil {
			return fmt.Errorf("power off: %w", err)
		}
		if st.PID != 0 {
			st.PID, st.StartTicks = 0, 0
			if err := in.save(st); err != nil {
				return fmt.Errorf("power off instance %q: %w", uuid, err)
			}
		}
		return nil
	})
}

// PowerOn starts the instance unless it is running. Processes left in its
// group by a previous run that exited on its own are killed first.
func (d *Driver) PowerOn(ctx context.Context, uuid string) error {
	return d.operate(ctx, "power on", uuid, func(in *instance) error {
		st, err := in.state()
		if err != nil {
			return fmt.Errorf("power on: %w", err)
		}
		if in.running() != nil {
			if st.Desired != compute.Running {
				st.Desired = compute.Running
				if err := in.save(st); err != nil {
					return fmt.Errorf("power on instance %q: %w", uuid, err)
				}
			}
			return nil
		}
		return restart(ctx, in, 0)
	})
}

// Reboot stops the instance (soft: SIGTERM, then SIGKILL after the
// soft_reboot_timeout; hard: SIGKILL) and starts it again.
func (d *Driver) Reboot(ctx context.Context, uuid string, hard bool) error {
	timeout := d.softRebootTimeout
	if hard {
		timeout = 0
	}
	return d.operate(ctx, "reboot", uuid, func(in *instance) error {
		if _, err := in.state(); err != nil {
			return fmt.Errorf("reboot: %w", err)
		}
		return restart(ctx, in, timeout)
	})
}

func restart(ctx context.Context, in *instance, timeout time.Duration) error {
	if err := in.stop(ctx, timeout); err != nil {
		return err
	}
	return in.start()
}

// Destroy kills the instance's processes and removes its directory.
func (d *Driver) Destroy(ctx context.Context, uuid string) error {
	return d.operate(ctx, "destroy", uuid, func(in *instance) error {
		if err := in.stop(ctx, 0); err != nil {
			return fmt.Errorf("destroy: %w", err)
		}
		if err := os.RemoveAll(in.dir); err != nil {
			return fmt.Errorf("destroy instance %q: %w", uuid, err)
		}
		in.mu.Lock()
		in.gone = true
		in.mu.Unlock()
		d.mu.Lock()
		delete(d.instances, uuid)
		d.mu.Unlock()
		return nil
	})
}

// Info reports on the instance. It does not wait for operations in
// progress on it.
func (d *Driver) Info(ctx context.Context, uuid string) (compute.InstanceInfo, error) {
	if err := d.enter(); err != nil {
		return compute.InstanceInfo{}, fmt.Errorf("get info of instance %q: %w", uuid, err)
	}
	defer d.ops.Done()
	if err := ctx.Err(); err != nil {
		return compute.InstanceInfo{}, fmt.Errorf("get info of instance %q: %w", uuid, err)
	}
	if err := compute.ValidateUUID(uuid); err != nil {
		return compute.InstanceInfo{}, err
	}
	in, err := d.lookup(uuid)
	if err != nil {
		return compute.InstanceInfo{}, fmt.Errorf("get info: %w", err)
	}
	info, err := in.info()
	if err != nil {
		return compute.InstanceInfo{}, fmt.Errorf("get info: %w", err)
	}
	return info, nil
}

// List reports on every instance, sorted by UUID.
func (d *Driver) List(ctx context.Context) ([]compute.InstanceInfo, error) {
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer d.ops.Done()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	d.mu.Lock()
	ins := slices.Collect(maps.Values(d.instances))
	d.mu.Unlock()
	slices.SortFunc(ins, func(a, b *instance) int { return strings.Compare(a.uuid, b.uuid) })
	infos := make([]compute.InstanceInfo, 0, len(ins))
	for _, in := range ins {
		info, err := in.info()
		if errors.Is(err, compute.ErrNotFound) {
			continue // destroyed meanwhile
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Resources reports the host's CPUs, memory and the size of the file
// system holding the state dir.
func (d *Driver) Resources(ctx context.Context) (compute.Resources, error) {
	if err := d.enter(); err != nil {
		return compute.Resources{}, fmt.Errorf("get resources: %w", err)
	}
	defer d.ops.Done()
	if err := ctx.Err(); err != nil {
		return compute.Resources{}, fmt.Errorf("get resources: %w", err)
	}
	mem, err := memTotalMB()
	if err != nil {
		return compute.Resources{}, fmt.Errorf("get resources: %w", err)
	}
	disk, err := diskGB(d.stateDir)
	if err != nil {
		return compute.Resources{}, fmt.Errorf("get resources: %w", err)
	}
	return compute.Resources{VCPUs: runtime.NumCPU(), MemoryMB: mem, DiskGB: disk}, nil
}

// Close waits for the calls in progress, then releases the state dir. The
// instances keep running, and a driver opened later on the same StateDir
// adopts them.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.ops.Wait()
	if err := d.lockFile.Close(); err != nil {
		return fmt.Errorf("process: close: release state dir: %w", err)
	}
	return nil
}
