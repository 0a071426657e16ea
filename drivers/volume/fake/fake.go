// Package fake is an in-memory volume driver, registered as "fake", for tests
// and for simulating hosts.
//
// It stores nothing: a volume is a record of its ID and size, and Attach
// only records the mountpoint (nothing appears on disk). Its volumes take no
// room (AllocatedBytes 0); Capacity reports the capacity_gb option, less the
// sizes of its volumes.
//
// Options (volume.Config.Options):
//
//	capacity_gb  the host's storage in GiB, a positive integer (default 1024)
//
// Tests can make the next call of an operation fail with FailNext.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/novaflow/novaflow/drivers/volume"
)

// Name is the name the driver is registered under.
const Name = "fake"

// DefaultCapacityGB is the capacity_gb of a driver without the option.
const DefaultCapacityGB = 1024

func init() {
	volume.Register(Name, func(cfg volume.Config) (volume.Driver, error) {
		d, err := Open(cfg)
		if err != nil {
			return nil, err
		}
		return d, nil
	})
}

var _ volume.Driver = (*Driver)(nil)

// Op names an operation for FailNext.
type Op string

// The operations that FailNext can make fail.
const (
	OpCreate Op = "create"
	OpDelete Op = "delete"
	OpAttach Op = "attach"
	OpDetach Op = "detach"
)

// Driver is the fake volume driver. It is safe for concurrent use.
type Driver struct {
	capacityGB int

	mu       sync.Mutex
	closed   bool
	volumes  map[string]int    // size in GiB by ID
	attached map[string]string // volume ID by mountpoint
	failNext map[Op][]error
}

// Open returns a new fake driver with no volumes. Config.Host and
// Config.DataDir are not used; unknown options are an error.
func Open(cfg volume.Config) (*Driver, error) {
	capacity := DefaultCapacityGB
	for _, key := range slices.Sorted(maps.Keys(cfg.Options)) {
		switch key {
		case "capacity_gb":
			n, err := strconv.Atoi(cfg.Options[key])
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("fake: option capacity_gb=%q: want a positive integer", cfg.Options[key])
			}
			capacity = n
		default:
			return nil, fmt.Errorf("fake: unknown option %q (known: capacity_gb)", key)
		}
	}
	return &Driver{
		capacityGB: capacity,
		volumes:    map[string]int{},
		attached:   map[string]string{},
		failNext:   map[Op][]error{},
	}, nil
}

// FailNext makes the next call of op fail with err, after its arguments are
// checked; calls queue up.
func (d *Driver) FailNext(op Op, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failNext[op] = append(d.failNext[op], err)
}

// Mountpoint returns where volume id is attached, if it is: what a test
// checks instead of a file on disk.
func (d *Driver) Mountpoint(id string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for mp, v := range d.attached {
		if v == id {
			return mp, true
		}
	}
	return "", false
}

// begin locks the driver for an operation on id, after the checks every
// operation makes; it returns the injected failure of op, if any.
func (d *Driver) begin(ctx context.Context, op Op, id string, mustExist bool) (unlock func(), err error) {
	if err := volume.ValidateID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s volume %q: %w", op, id, err)
	}
	d.mu.Lock()
	switch _, ok := d.volumes[id]; {
	case d.closed:
		err = volume.ErrClosed
	case mustExist && !ok:
		err = volume.ErrNotFound
	case len(d.failNext[op]) > 0:
		err = d.failNext[op][0]
		d.failNext[op] = d.failNext[op][1:]
	}
	if err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("%s volume %q: %w", op, id, err)
	}
	return d.mu.Unlock, nil
}

// Create records the volume.
func (d *Driver) Create(ctx context.Context, id string, sizeGB int) error {
	if err := volume.ValidateID(id); err != nil {
		return err
	}
	if err := volume.ValidateSize(sizeGB); err != nil {
		return err
	}
	unlock, err := d.begin(ctx, OpCreate, id, false)
	if err != nil {
		return err
	}
	defer unlock()
	if size, ok := d.volumes[id]; ok {
		if size != sizeGB {
			return fmt.Errorf("create volume %q of %d GiB: it has %d GiB: %w", id, sizeGB, size, volume.ErrExists)
		}
		return nil
	}
	d.volumes[id] = sizeGB
	return nil
}

// Delete forgets the volume and its attachments.
func (d *Driver) Delete(ctx context.Context, id string) error {
	unlock, err := d.begin(ctx, OpDelete, id, true)
	if err != nil {
		return err
	}
	defer unlock()
	delete(d.volumes, id)
	maps.DeleteFunc(d.attached, func(_, v string) bool { return v == id })
	return nil
}

// Attach records the volume at mountpoint.
func (d *Driver) Attach(ctx context.Context, id, mountpoint string) error {
	if err := volume.ValidateID(id); err != nil {
		return err
	}
	if err := volume.ValidateMountpoint(mountpoint); err != nil {
		return err
	}
	unlock, err := d.begin(ctx, OpAttach, id, true)
	if err != nil {
		return err
	}
	defer unlock()
	if mountpoint == "" {
		return nil
	}
	if other, ok := d.attached[mountpoint]; ok && other != id {
		return fmt.Errorf("attach volume %q at %s: volume %q is there: %w", id, mountpoint, other, volume.ErrBusy)
	}
	d.attached[mountpoint] = id
	return nil
}

// Detach forgets the volume at mountpoint.
func (d *Driver) Detach(ctx context.Context, id, mountpoint string) error {
	unlock, err := d.begin(ctx, OpDetach, id, true)
	if err != nil {
		return err
	}
	defer unlock()
	if d.attached[mountpoint] == id {
		delete(d.attached, mountpoint)
	}
	return nil
}

// List reports the volumes, sorted by ID.
func (d *Driver) List(ctx context.Context) ([]volume.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, volume.ErrClosed
	}
	out := make([]volume.Volume, 0, len(d.volumes))
	for _, id := range slices.Sorted(maps.Keys(d.volumes)) {
		out = append(out, volume.Volume{ID: id, SizeGB: d.volumes[id]})
	}
	return out, nil
}

// Capacity reports capacity_gb, less the sizes of the volumes.
func (d *Driver) Capacity(ctx context.Context) (volume.Capacity, error) {
	if err := ctx.Err(); err != nil {
		return volume.Capacity{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return volume.Capacity{}, volume.ErrClosed
	}
	used := 0
	for _, size := range d.volumes {
		used += size
	}
	total := int64(d.capacityGB) * volume.GiB
	return volume.Capacity{TotalBytes: total, FreeBytes: max(0, total-int64(used)*volume.GiB)}, nil
}

// Close makes every later call fail with volume.ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
