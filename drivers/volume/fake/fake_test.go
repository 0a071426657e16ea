package fake_test

import (
	"errors"
	"testing"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/drivers/volume/fake"
	"github.com/novaflow/novaflow/drivers/volume/volumetest"
)

func TestContract(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) volume.Driver {
		d, err := fake.Open(volume.Config{Host: "fake-host"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		wantErr bool
		total   int64
	}{
		{"default", nil, false, fake.DefaultCapacityGB * volume.GiB},
		{"capacity", map[string]string{"capacity_gb": "10"}, false, 10 * volume.GiB},
		{"zero capacity", map[string]string{"capacity_gb": "0"}, true, 0},
		{"not a number", map[string]string{"capacity_gb": "ten"}, true, 0},
		{"unknown", map[string]string{"capacity": "10"}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := volume.Open("fake", volume.Config{Options: tt.opts})
			if tt.wantErr {
				if err == nil {
					t.Fatalf(`volume.Open("fake", %v) succeeded, want an error`, tt.opts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			c, err := d.Capacity(t.Context())
			if err != nil || c.TotalBytes != tt.total {
				t.Fatalf("Capacity = %+v, %v; want total %d", c, err, tt.total)
			}
		})
	}
}

func TestFailNextAndMountpoint(t *testing.T) {
	d, err := fake.Open(volume.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	boom := errors.New("boom")
	d.FailNext(fake.OpCreate, boom)
	if err := d.Create(ctx, "vol-1", 1); !errors.Is(err, boom) {
		t.Fatalf("Create = %v, want the injected failure", err)
	}
	if err := d.Create(ctx, "vol-1", 1); err != nil {
		t.Fatalf("Create after the injected failure: %v", err)
	}
	mp := volumetest.Mountpoint(t, "inst-1", "vol-1")
	if err := d.Attach(ctx, "vol-1", mp); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.Mountpoint("vol-1"); !ok || got != mp {
		t.Fatalf("Mountpoint = %q, %v; want %q", got, ok, mp)
	}
	c, err := d.Capacity(ctx)
	if err != nil || c.FreeBytes != c.TotalBytes-volume.GiB {
		t.Fatalf("Capacity = %+v, %v; want 1 GiB used", c, err)
	}
}
