// Package volumetest holds the contract tests that every volume driver must
// pass.
//
// A driver's tests call Run with a function that opens a new, empty driver:
//
//	func TestContract(t *testing.T) {
//		volumetest.Run(t, func(t *testing.T) volume.Driver {
//			d, err := file.Open(volume.Config{DataDir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return d
//		})
//	}
//
// The tests create volumes of 1 GiB: a driver that stores data must store
// them sparse (or be given room for them).
package volumetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/volume"
)

// opTimeout bounds every driver call in the contract tests.
const opTimeout = 30 * time.Second

// Run runs the contract tests against the driver that open returns. open is
// called once per subtest and must return a new driver that has no volumes;
// Run deletes every volume left and closes the driver when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) volume.Driver) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d volume.Driver)
	}{
		{"Create", testCreate},
		{"CreateAgain", testCreateAgain},
		{"CreateInvalid", testCreateInvalid},
		{"CreateCanceled", testCreateCanceled},
		{"Delete", testDelete},
		{"UnknownVolume", testUnknownVolume},
		{"InvalidID", testInvalidID},
		{"AttachDetach", testAttachDetach},
		{"AttachNowhere", testAttachNowhere},
		{"AttachInvalidMountpoint", testAttachInvalidMountpoint},
		{"AttachBusy", testAttachBusy},
		{"ListSorted", testListSorted},
		{"Capacity", testCapacity},
		{"Close", testClose},
		{"ConcurrentVolumes", testConcurrentVolumes},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, openDriver(t, open))
		})
	}
}

func openDriver(t *testing.T, open func(t *testing.T) volume.Driver) volume.Driver {
	t.Helper()
	d := open(t)
	if d == nil {
		t.Fatal("open returned a nil driver")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		vols, err := d.List(ctx)
		if err != nil && !errors.Is(err, volume.ErrClosed) {
			t.Errorf("cleanup: list volumes: %v", err)
		}
		for _, v := range vols {
			if err := d.Delete(ctx, v.ID); err != nil {
				t.Errorf("cleanup: delete %s: %v", v.ID, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Errorf("cleanup: close driver: %v", err)
		}
	})
	return d
}

// Mountpoint returns a mountpoint for volume id in the directory of a new
// instance: <temp dir>/instances/<instance>/volumes/<id>, where the
// instance's directory exists and its volumes directory does not yet, as a
// compute service passes them.
func Mountpoint(t testing.TB, instance, id string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "instances", instance)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "volumes", id)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func create(t *testing.T, d volume.Driver, id string, sizeGB int) {
	t.Helper()
	if err := d.Create(ctxFor(t), id, sizeGB); err != nil {
		t.Fatalf("Create(%s, %d): %v", id, sizeGB, err)
	}
}

func list(t *testing.T, d volume.Driver) []volume.Volume {
	t.Helper()
	vols, err := d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return vols
}

func ids(vols []volume.Volume) []string {
	out := []string{}
	for _, v := range vols {
		out = append(out, v.ID)
	}
	return out
}

// wantVisible checks that whatever the driver left at mountpoint is the
// volume's data, of its full size; a driver may leave nothing.
func wantVisible(t *testing.T, mountpoint string, sizeGB int) {
	t.Helper()
	if _, err := os.Lstat(mountpoint); errors.Is(err, os.ErrNotExist) {
		return
	}
	fi, err := os.Stat(mountpoint)
	if err != nil {
		t.Fatalf("the volume at %s cannot be reached: %v", mountpoint, err)
	}
	if fi.Size() != int64(sizeGB)*volume.GiB {
		t.Fatalf("the volume at %s has %d bytes, want %d", mountpoint, fi.Size(), int64(sizeGB)*volume.GiB)
	}
}

// wantGone checks that nothing is left at mountpoint.
func wantGone(t *testing.T, mountpoint string) {
	t.Helper()
	if _, err := os.Lstat(mountpoint); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Detach, %s is still there (Lstat: %v)", mountpoint, err)
	}
}

func testCreate(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	vols := list(t, d)
	if len(vols) != 1 || vols[0].ID != "vol-1" || vols[0].SizeGB != 1 {
		t.Fatalf("List = %+v, want just vol-1 of 1 GiB", vols)
	}
	if a := vols[0].AllocatedBytes; a < 0 || a > volume.GiB {
		t.Errorf("AllocatedBytes = %d, want 0 to %d", a, volume.GiB)
	}
}

func testCreateAgain(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 2)
	if err := d.Create(ctxFor(t), "vol-1", 2); err != nil {
		t.Fatalf("Create of the same volume again = %v, want nil (a retried request)", err)
	}
	if err := d.Create(ctxFor(t), "vol-1", 3); !errors.Is(err, volume.ErrExists) {
		t.Fatalf("Create of vol-1 with another size = %v, want ErrExists", err)
	}
	vols := list(t, d)
	if len(vols) != 1 || vols[0].SizeGB != 2 {
		t.Fatalf("List = %+v, want just vol-1 of 2 GiB", vols)
	}
}

func testCreateInvalid(t *testing.T, d volume.Driver) {
	tests := []struct {
		name   string
		id     string
		sizeGB int
		field  string
	}{
		{"empty id", "", 1, "id"},
		{"path in id", "../escape", 1, "id"},
		{"slash in id", "a/b", 1, "id"},
		{"hidden id", ".vol", 1, "id"},
		{"zero size", "vol-1", 0, "size_gb"},
		{"negative size", "vol-1", -1, "size_gb"},
		{"too large", "vol-1", volume.MaxSizeGB + 1, "size_gb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Create(ctxFor(t), tt.id, tt.sizeGB)
			var ie *volume.InvalidError
			if !errors.Is(err, volume.ErrInvalid) || !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("Create(%q, %d) = %v, want an InvalidError of field %s", tt.id, tt.sizeGB, err, tt.field)
			}
		})
	}
	if vols := list(t, d); len(vols) != 0 {
		t.Fatalf("after invalid creates, List = %+v, want none", vols)
	}
}

func testCreateCanceled(t *testing.T, d volume.Driver) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Create(ctx, "vol-1", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a canceled context = %v, want context.Canceled", err)
	}
	if vols := list(t, d); len(vols) != 0 {
		t.Fatalf("after a canceled Create, List = %+v, want none", vols)
	}
}

func testDelete(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	create(t, d, "vol-2", 1)
	if err := d.Delete(ctxFor(t), "vol-1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := ids(list(t, d)); !slices.Equal(got, []string{"vol-2"}) {
		t.Fatalf("after Delete, List = %v, want [vol-2]", got)
	}
	if err := d.Delete(ctxFor(t), "vol-1"); !errors.Is(err, volume.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	// The ID can be used again.
	create(t, d, "vol-1", 2)
}

// idOps are the methods that take a volume ID, for the tests of unknown
// and invalid IDs and of Close.
var idOps = []struct {
	name string
	call func(ctx context.Context, d volume.Driver, id, mountpoint string) error
}{
	{"Delete", func(ctx context.Context, d volume.Driver, id, _ string) error { return d.Delete(ctx, id) }},
	{"Attach", func(ctx context.Context, d volume.Driver, id, mp string) error { return d.Attach(ctx, id, mp) }},
	{"Detach", func(ctx context.Context, d volume.Driver, id, mp string) error { return d.Detach(ctx, id, mp) }},
}

func testUnknownVolume(t *testing.T, d volume.Driver) {
	mp := Mountpoint(t, "inst-1", "nope")
	for _, op := range idOps {
		if err := op.call(ctxFor(t), d, "nope", mp); !errors.Is(err, volume.ErrNotFound) {
			t.Errorf("%s of an unknown volume = %v, want ErrNotFound", op.name, err)
		}
	}
	wantGone(t, mp)
}

func testInvalidID(t *testing.T, d volume.Driver) {
	for _, id := range []string{"", "../x", "a/b"} {
		for _, op := range idOps {
			if err := op.call(ctxFor(t), d, id, ""); !errors.Is(err, volume.ErrInvalid) {
				t.Errorf("%s(%q) = %v, want ErrInvalid", op.name, id, err)
			}
		}
	}
}

func testAttachDetach(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	mp := Mountpoint(t, "inst-1", "vol-1")
	if err := d.Attach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	wantVisible(t, mp, 1)
	if err := d.Attach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("second Attach at the same mountpoint = %v, want nil", err)
	}
	wantVisible(t, mp, 1)
	if err := d.Detach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	wantGone(t, mp)
	if err := d.Detach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("second Detach = %v, want nil", err)
	}
	if vols := list(t, d); len(vols) != 1 {
		t.Fatalf("after Detach, List = %+v, want vol-1 still there", vols)
	}
	// Attach again, elsewhere, and delete after a detach.
	mp2 := Mountpoint(t, "inst-2", "vol-1")
	if err := d.Attach(ctxFor(t), "vol-1", mp2); err != nil {
		t.Fatalf("Attach at another mountpoint after Detach: %v", err)
	}
	if err := d.Detach(ctxFor(t), "vol-1", mp2); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := d.Delete(ctxFor(t), "vol-1"); err != nil {
		t.Fatalf("Delete after Detach: %v", err)
	}
}

func testAttachNowhere(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	if err := d.Attach(ctxFor(t), "vol-1", ""); err != nil {
		t.Fatalf(`Attach(vol-1, "") = %v, want nil`, err)
	}
	if err := d.Detach(ctxFor(t), "vol-1", ""); err != nil {
		t.Fatalf(`Detach(vol-1, "") = %v, want nil`, err)
	}
}

func testAttachInvalidMountpoint(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	for _, mp := range []string{"relative/vol-1", "/a/../b/vol-1", "/a/b/", "/"} {
		err := d.Attach(ctxFor(t), "vol-1", mp)
		var ie *volume.InvalidError
		if !errors.As(err, &ie) || ie.Field != "mountpoint" {
			t.Errorf("Attach at %q = %v, want an InvalidError of field mountpoint", mp, err)
		}
	}
}

func testAttachBusy(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	create(t, d, "vol-2", 1)
	mp := Mountpoint(t, "inst-1", "vol")
	if err := d.Attach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("Attach(vol-1): %v", err)
	}
	if err := d.Attach(ctxFor(t), "vol-2", mp); !errors.Is(err, volume.ErrBusy) {
		t.Fatalf("Attach(vol-2) where vol-1 is = %v, want ErrBusy", err)
	}
	// Detaching vol-2 from there leaves vol-1 alone.
	if err := d.Detach(ctxFor(t), "vol-2", mp); err != nil {
		t.Fatalf("Detach(vol-2) where vol-1 is = %v, want nil", err)
	}
	wantVisible(t, mp, 1)
	if err := d.Attach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("Attach(vol-1) again after Detach(vol-2) = %v, want nil: vol-1 is still there", err)
	}
	if err := d.Detach(ctxFor(t), "vol-1", mp); err != nil {
		t.Fatalf("Detach(vol-1): %v", err)
	}
	wantGone(t, mp)
}

func testListSorted(t *testing.T, d volume.Driver) {
	for _, id := range []string{"vol-c", "vol-a", "vol-b"} {
		create(t, d, id, 1)
	}
	if got := ids(list(t, d)); !slices.Equal(got, []string{"vol-a", "vol-b", "vol-c"}) {
		t.Fatalf("List = %v, want sorted by ID", got)
	}
}

func testCapacity(t *testing.T, d volume.Driver) {
	c, err := d.Capacity(ctxFor(t))
	if err != nil {
		t.Fatalf("Capacity: %v", err)
	}
	if c.TotalBytes <= 0 || c.FreeBytes < 0 || c.FreeBytes > c.TotalBytes {
		t.Fatalf("Capacity = %+v, want total > 0 and 0 <= free <= total", c)
	}
}

func testClose(t *testing.T, d volume.Driver) {
	create(t, d, "vol-1", 1)
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := ctxFor(t)
	if err := d.Create(ctx, "vol-2", 1); !errors.Is(err, volume.ErrClosed) {
		t.Errorf("Create after Close = %v, want ErrClosed", err)
	}
	if _, err := d.List(ctx); !errors.Is(err, volume.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	if _, err := d.Capacity(ctx); !errors.Is(err, volume.ErrClosed) {
		t.Errorf("Capacity after Close = %v, want ErrClosed", err)
	}
	for _, op := range idOps {
		if err := op.call(ctx, d, "vol-1", ""); !errors.Is(err, volume.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op.name, err)
		}
	}
}

func testConcurrentVolumes(t *testing.T, d volume.Driver) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("vol-%d", i)
			mp := Mountpoint(t, fmt.Sprintf("inst-%d", i), id)
			ctx := ctxFor(t)
			for _, step := range []func() error{
				func() error { return d.Create(ctx, id, 1) },
				func() error { return d.Attach(ctx, id, mp) },
				func() error { return d.Detach(ctx, id, mp) },
			} {
				if err := step(); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if vols := list(t, d); len(vols) != n {
		t.Fatalf("List has %d volumes, want %d", len(vols), n)
	}
}

func testConcurrentCreateSameID(t *testing.T, d volume.Driver) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Create(ctxFor(t), "vol-1", 1); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Create of the same volume: %v", err)
	}
	if vols := list(t, d); len(vols) != 1 || vols[0].SizeGB != 1 {
		t.Fatalf("List = %+v, want just vol-1", vols)
	}
}
