package compute_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/managers"
)

// TestVolumeRequests checks what compute's attach_volume and detach_volume
// judge themselves; calling the volume service is covered end to end in
// managers/volume.
func TestVolumeRequests(t *testing.T) {
	e := newEnv(t, nil)
	inst, vol := e.active(t), uuid.NewString()
	tests := []struct {
		name, method, req string
		wantType, field   string
		contains          string
	}{
		{"no volume", "attach_volume", `{"instance_uuid":"` + inst + `"}`, managers.InvalidArgumentType, "volume_id", ""},
		{"bad volume", "attach_volume", `{"instance_uuid":"` + inst + `","volume_id":"vol-1"}`, managers.InvalidArgumentType, "volume_id", ""},
		{"bad instance", "detach_volume", `{"instance_uuid":"vm-1","volume_id":"` + vol + `"}`, managers.InvalidArgumentType, "instance_uuid", ""},
		{"no RPC client", "attach_volume", `{"instance_uuid":"` + inst + `","volume_id":"` + vol + `"}`, "", "", "without a Temporal client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(t, e.mgr, tt.method, tt.req)
			if tt.wantType != "" {
				me, ok := managers.AsError(err)
				if !ok || me.Type != tt.wantType || me.Field != tt.field {
					t.Fatalf("%s = %v, want %s of field %s", tt.method, err, tt.wantType, tt.field)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("%s = %v, want an error saying %q", tt.method, err, tt.contains)
			}
		})
	}
}
