package managers

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// rebootRequest is shaped like compute's reboot_instance request: two
// required fields, an optional one, and a Validate method.
type rebootRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	RebootType   string `json:"reboot_type" required:"true"`
	RequestID    string `json:"request_id,omitempty"`
}

func (r rebootRequest) Validate() error {
	if len(r.InstanceUUID) != 36 {
		return InvalidArgument("instance_uuid", "want a UUID")
	}
	if r.RebootType != "SOFT" && r.RebootType != "HARD" {
		return InvalidArgument("reboot_type", "want SOFT or HARD")
	}
	return nil
}

// BenchmarkMethodCall measures what a method's strict decoding costs (unknown
// fields refused, required fields checked, Validate, typed errors) against
// the baseline of decoding and encoding the same request with encoding/json
// alone, in the same run: go test ./managers -run '^$' -bench MethodCall.
func BenchmarkMethodCall(b *testing.B) {
	raw := []byte(`{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","reboot_type":"HARD","request_id":"req-1"}`)
	handler := func(_ context.Context, r rebootRequest) (rebootRequest, error) { return r, nil }
	ctx := context.Background()
	b.Run("baseline=encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r rebootRequest
			if err := json.Unmarshal(raw, &r); err != nil {
				b.Fatal(err)
			}
			resp, err := handler(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	m := NewMethod("reboot_instance", "1.0", handler)
	b.Run("novaflow=Method.Call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Call(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	bad := []byte(`{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","reboot_type":"WARM"}`)
	b.Run("novaflow=Method.Call,invalid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e *Error
			if _, err := m.Call(ctx, bad); !errors.As(err, &e) || e.Field != "reboot_type" {
				b.Fatalf("error %v, want InvalidArgument reboot_type", err)
			}
		}
	})
}
