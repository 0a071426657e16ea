//go:build linux

package file

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/novaflow/novaflow/drivers/volume"
)

// Name is the name the driver is registered under.
const Name = "file"

// File names in the data directory.
const (
	suffix     = ".img"
	tempPrefix = ".tmp-"
	lockName   = "lock"
)

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

// Driver is the file volume driver. It is safe for concurrent use; its
// operations are serialized, and each is quick (files are sparse).
type Driver struct {
	dataDir   string
	mountRoot string   // resolved; "" when any mountpoint is accepted
	lockFile  *os.File // holds the exclusive lock on <DataDir>/lock

	mu     sync.Mutex
	closed bool
}

// Open opens the driver on cfg.DataDir (required; created if missing). It
// fails if another driver holds the DataDir or an option is unknown or
// malformed.
func Open(cfg volume.Config) (*Driver, error) {
	d, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return d, nil
}

func open(cfg volume.Config) (*Driver, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("data dir is not set")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	d := &Driver{dataDir: dataDir}
	for _, key := range slices.Sorted(maps.Keys(cfg.Options)) {
		switch v := cfg.Options[key]; key {
		case "mount_root":
			if !filepath.IsAbs(v) {
				return nil, fmt.Errorf("option mount_root=%q: want an absolute directory", v)
			}
			if d.mountRoot, err = filepath.EvalSymlinks(v); err != nil {
				return nil, fmt.Errorf("option mount_root=%q: %w", v, err)
			}
		default:
			return nil, fmt.Errorf("unknown option %q (known: mount_root)", key)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if d.lockFile, err = lockDir(dataDir); err != nil {
		return nil, err
	}
	removeTemps(dataDir)
	return d, nil
}

// lockDir takes an exclusive, non-blocking lock on dir/lock, held as long as
// the returned file is open.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another file volume driver", dir)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}

// removeTemps removes the temporary files of creates that did not finish.
func removeTemps(dir string) {
	temps, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	for _, p := range temps {
		_ = os.Remove(p)
	}
}

// path is the file of volume id.
func (d *Driver) path(id string) string { return filepath.Join(d.dataDir, id+suffix) }

// begin checks the ID, ctx and that the driver is open, and locks it.
func (d *Driver) begin(ctx context.Context, what, id string) (unlock func(), err error) {
	if err := volume.ValidateID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s volume %q: %w", what, id, err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("%s volume %q: %w", what, id, volume.ErrClosed)
	}
	return d.mu.Unlock, nil
}

// stat returns the volume's file info, or ErrNotFound.
func (d *Driver) stat(what, id string) (os.FileInfo, error) {
	fi, err := os.Stat(d.path(id))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s volume %q: %w", what, id, volume.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("%s volume %q: %w", what, id, err)
	}
	return fi, nil
}

// Create makes the volume's sparse file.
func (d *Driver) Create(ctx context.Context, id string, sizeGB int) error {
	if err := volume.ValidateSize(sizeGB); err != nil {
		return err
	}
	unlock, err := d.begin(ctx, "create", id)
	if err != nil {
		return err
	}
	defer unlock()
	size := int64(sizeGB) * volume.GiB
	if fi, err := os.Stat(d.path(id)); err == nil {
		if fi.Size() != size {
			return fmt.Errorf("create volume %q of %d GiB: it has %d bytes: %w", id, sizeGB, fi.Size(), volume.ErrExists)
		}
		return nil
	}
	tmp, err := os.CreateTemp(d.dataDir, tempPrefix+id+"-*")
	if err != nil {
		return fmt.Errorf("create volume %q: %w", id, err)
	}
	err = tmp.Truncate(size)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.path(id))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("create volume %q: %w", id, err)
	}
	return nil
}

// Delete removes the volume's file.
func (d *Driver) Delete(ctx context.Context, id string) error {
	unlock, err := d.begin(ctx, "delete", id)
	if err != nil {
		return err
	}
	defer unlock()
	err = os.Remove(d.path(id))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("delete volume %q: %w", id, volume.ErrNotFound)
	case err != nil:
		return fmt.Errorf("delete volume %q: %w", id, err)
	}
	return nil
}

// Attach links mountpoint to the volume's file.
func (d *Driver) Attach(ctx context.Context, id, mountpoint string) error {
	if err := volume.ValidateMountpoint(mountpoint); err != nil {
		return err
	}
	unlock, err := d.begin(ctx, "attach", id)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := d.stat("attach", id); err != nil {
		return err
	}
	if mountpoint == "" {
		return nil
	}
	if d.ours(id, mountpoint) {
		return nil
	}
	if _, err := os.Lstat(mountpoint); err == nil {
		return fmt.Errorf("attach volume %q at %s: something else is there: %w", id, mountpoint, volume.ErrBusy)
	}
	// The directory holding the volumes directory (the instance's) must be
	// there already: it is on this host only if the instance is.
	dir := filepath.Dir(mountpoint)
	if fi, err := os.Stat(filepath.Dir(dir)); err != nil || !fi.IsDir() {
		return volume.Invalid("mountpoint", "%s: directory %s does not exist on this host (the file driver attaches volumes on its own host only)", mountpoint, filepath.Dir(dir))
	}
	if err := d.checkRoot(mountpoint, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("attach volume %q: %w", id, err)
	}
	if err := d.checkRoot(mountpoint, dir); err != nil {
		return err
	}
	if err := os.Symlink(d.path(id), mountpoint); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("attach volume %q at %s: something else is there: %w", id, mountpoint, volume.ErrBusy)
		}
		return fmt.Errorf("attach volume %q: %w", id, err)
	}
	return nil
}

// checkRoot checks that dir, an existing directory on the way to
// mountpoint, lies under mount_root once its links are resolved.
func (d *Driver) checkRoot(mountpoint, dir string) error {
	if d.mountRoot == "" {
		return nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	if real != d.mountRoot && !strings.HasPrefix(real, d.mountRoot+string(filepath.Separator)) {
		return volume.Invalid("mountpoint", "%s is not under mount_root %s", mountpoint, d.mountRoot)
	}
	return nil
}

// ours reports whether mountpoint is a link to volume id's file.
func (d *Driver) ours(id, mountpoint string) bool {
	target, err := os.Readlink(mountpoint)
	return err == nil && target == d.path(id)
}

// Detach removes the link at mountpoint when it points at the volume.
func (d *Driver) Detach(ctx context.Context, id, mountpoint string) error {
	if err := volume.ValidateMountpoint(mountpoint); err != nil {
		return err
	}
	unlock, err := d.begin(ctx, "detach", id)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := d.stat("detach", id); err != nil {
		return err
	}
	if mountpoint == "" || !d.ours(id, mountpoint) {
		return nil
	}
	if err := os.Remove(mountpoint); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detach volume %q: %w", id, err)
	}
	return nil
}

// List reports the volumes of the data directory, sorted by ID.
func (d *Driver) List(ctx context.Context) ([]volume.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, volume.ErrClosed
	}
	entries, err := os.ReadDir(d.dataDir)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := []volume.Volume{}
	for _, e := range entries { // ReadDir sorts by name, so by ID
		id, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || !e.Type().IsRegular() || volume.ValidateID(id) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		v := volume.Volume{ID: id, SizeGB: int(fi.Size() / volume.GiB)}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			v.AllocatedBytes = st.Blocks * 512
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b volume.Volume) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Capacity reports the file system of the data directory.
func (d *Driver) Capacity(ctx context.Context) (volume.Capacity, error) {
	if err := ctx.Err(); err != nil {
		return volume.Capacity{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return volume.Capacity{}, volume.ErrClosed
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dataDir, &st); err != nil {
		return volume.Capacity{}, fmt.Errorf("capacity of %s: %w", d.dataDir, err)
	}
	return volume.Capacity{
		TotalBytes: int64(st.Blocks) * st.Bsize,
		FreeBytes:  int64(st.Bavail) * st.Bsize,
	}, nil
}

// Close releases the data directory's lock; the volumes stay.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lockFile.Close()
}
