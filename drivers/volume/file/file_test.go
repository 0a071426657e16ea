//go:build linux

package file_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/drivers/volume/file"
	"github.com/novaflow/novaflow/drivers/volume/volumetest"
)

func open(t *testing.T, dir string, opts map[string]string) *file.Driver {
	t.Helper()
	d, err := file.Open(volume.Config{Host: "file-host", DataDir: dir, Options: opts})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestContract(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) volume.Driver { return open(t, t.TempDir(), nil) })
}

func TestContractWithMountRoot(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) volume.Driver {
		return open(t, t.TempDir(), map[string]string{"mount_root": os.TempDir()})
	})
}

// TestAttachLinksTheFile checks what an instance sees: a link in its
// volumes directory to a sparse file of the volume's size, that it can
// write through.
func TestAttachLinksTheFile(t *testing.T) {
	dataDir := t.TempDir()
	d := open(t, dataDir, nil)
	ctx := t.Context()
	if err := d.Create(ctx, "vol-1", 2); err != nil {
		t.Fatal(err)
	}
	mp := volumetest.Mountpoint(t, "inst-1", "vol-1")
	if err := d.Attach(ctx, "vol-1", mp); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(mp)
	if err != nil || target != filepath.Join(dataDir, "vol-1.img") {
		t.Fatalf("Readlink(%s) = %q, %v; want the volume's file", mp, target, err)
	}
	if err := os.WriteFile(mp, []byte("hello"), 0o600); err != nil {
		t.Fatalf("write through the mountpoint: %v", err)
	}
	vols, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// WriteFile truncated the file: what an instance writes is the volume.
	if len(vols) != 1 || vols[0].AllocatedBytes <= 0 || vols[0].AllocatedBytes >= volume.GiB {
		t.Fatalf("List = %+v, want vol-1 with a few blocks allocated", vols)
	}
}

func TestSparse(t *testing.T) {
	d := open(t, t.TempDir(), nil)
	if err := d.Create(t.Context(), "vol-1", 4); err != nil {
		t.Fatal(err)
	}
	vols, err := d.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].SizeGB != 4 || vols[0].AllocatedBytes > 1<<20 {
		t.Fatalf("List = %+v, want vol-1 of 4 GiB taking (almost) no room", vols)
	}
}

func TestAttachRefused(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	instance := filepath.Join(root, "instances", "inst-1")
	if err := os.MkdirAll(instance, 0o755); err != nil {
		t.Fatal(err)
	}
	// A link from inside the root to outside of it.
	escape := filepath.Join(root, "instances", "escape")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	taken := filepath.Join(instance, "volumes", "taken")
	if err := os.MkdirAll(filepath.Dir(taken), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(taken, []byte("not a volume"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := open(t, t.TempDir(), map[string]string{"mount_root": root})
	if err := d.Create(t.Context(), "vol-1", 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		mountpoint string
		want       error
		contains   string
	}{
		{"no instance directory", filepath.Join(root, "instances", "gone", "volumes", "vol-1"), volume.ErrInvalid, "does not exist on this host"},
		{"outside the root", filepath.Join(outside, "inst", "volumes", "vol-1"), volume.ErrInvalid, "not under mount_root"},
		{"through a link out of the root", filepath.Join(escape, "volumes", "vol-1"), volume.ErrInvalid, "not under mount_root"},
		{"a file is there", taken, volume.ErrBusy, "something else is there"},
	}
	if err := os.MkdirAll(filepath.Join(outside, "inst"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Attach(t.Context(), "vol-1", tt.mountpoint)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Attach at %s = %v, want %v saying %q", tt.mountpoint, err, tt.want, tt.contains)
			}
		})
	}
	if b, err := os.ReadFile(taken); err != nil || string(b) != "not a volume" {
		t.Fatalf("the file at %s was changed: %q, %v", taken, b, err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "volumes")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Attach made a directory outside mount_root (Lstat: %v)", err)
	}
	if err := d.Detach(t.Context(), "vol-1", taken); err != nil {
		t.Fatalf("Detach where another file is = %v, want nil", err)
	}
	if _, err := os.Stat(taken); err != nil {
		t.Fatalf("Detach removed a file that is not the volume's: %v", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, nil)
	if err := d.Create(t.Context(), "vol-1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Open(volume.Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of the same data dir = %v, want in use", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// A create that a crash interrupted.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-vol-2-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := open(t, dir, nil)
	vols, err := d2.List(t.Context())
	if err != nil || len(vols) != 1 || vols[0].ID != "vol-1" {
		t.Fatalf("after reopen, List = %+v, %v; want vol-1", vols, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-vol-2-123")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open left a temporary file behind (Stat: %v)", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  volume.Config
		want string
	}{
		{"no data dir", volume.Config{}, "data dir is not set"},
		{"unknown option", volume.Config{DataDir: t.TempDir(), Options: map[string]string{"root": "/"}}, `unknown option "root"`},
		{"relative mount root", volume.Config{DataDir: t.TempDir(), Options: map[string]string{"mount_root": "rel"}}, "want an absolute directory"},
		{"missing mount root", volume.Config{DataDir: t.TempDir(), Options: map[string]string{"mount_root": "/no/such/dir"}}, "mount_root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := volume.Open("file", tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf(`volume.Open("file") = %v, want an error saying %q`, err, tt.want)
			}
		})
	}
}
