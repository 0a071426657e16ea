package volume_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/volume"
	_ "github.com/novaflow/novaflow/drivers/volume/fake"
	_ "github.com/novaflow/novaflow/drivers/volume/file"
	"github.com/novaflow/novaflow/registry"
)

func TestOpenUnknown(t *testing.T) {
	_, err := volume.Open("nfs", volume.Config{})
	if !errors.Is(err, registry.ErrUnknown) || !strings.Contains(err.Error(), "registered: fake, file") {
		t.Fatalf(`Open("nfs") = %v, want an unknown driver error listing fake, file`, err)
	}
	if got := strings.Join(volume.Drivers(), ","); got != "fake,file" {
		t.Fatalf("Drivers() = %s, want fake,file", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string // "" when valid
	}{
		{"uuid", volume.ValidateID("6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"), ""},
		{"test name", volume.ValidateID("vol_1.a"), ""},
		{"empty id", volume.ValidateID(""), "id"},
		{"long id", volume.ValidateID(strings.Repeat("a", volume.MaxIDLen+1)), "id"},
		{"dot id", volume.ValidateID(".."), "id"},
		{"space in id", volume.ValidateID("a b"), "id"},
		{"size 1", volume.ValidateSize(1), ""},
		{"max size", volume.ValidateSize(volume.MaxSizeGB), ""},
		{"size 0", volume.ValidateSize(0), "size_gb"},
		{"size too large", volume.ValidateSize(volume.MaxSizeGB + 1), "size_gb"},
		{"no mountpoint", volume.ValidateMountpoint(""), ""},
		{"mountpoint", volume.ValidateMountpoint("/var/lib/x/instances/u/volumes/v"), ""},
		{"relative", volume.ValidateMountpoint("volumes/v"), "mountpoint"},
		{"dot dot", volume.ValidateMountpoint("/a/../v"), "mountpoint"},
		{"trailing slash", volume.ValidateMountpoint("/a/v/"), "mountpoint"},
		{"root", volume.ValidateMountpoint("/"), "mountpoint"},
		{"nul", volume.ValidateMountpoint("/a/v\x00"), "mountpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				if tt.err != nil {
					t.Fatalf("got %v, want valid", tt.err)
				}
				return
			}
			var ie *volume.InvalidError
			if !errors.Is(tt.err, volume.ErrInvalid) || !errors.As(tt.err, &ie) || ie.Field != tt.field {
				t.Fatalf("got %v, want an InvalidError of field %s", tt.err, tt.field)
			}
		})
	}
}
