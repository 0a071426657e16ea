package compute

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

// FuzzComputeRequests decodes arbitrary bytes as the request of every
// compute RPC method (the method chosen by index): it never panics, fails
// only with an InvalidArgument *managers.Error, and what it accepts names
// an instance by canonical UUID with a request id that can be stored.
func FuzzComputeRequests(f *testing.F) {
	methods := (&Manager{}).RPCMethods()
	const u = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	for i := range methods {
		for _, s := range []string{
			`{"instance_uuid":"` + u + `"}`,
			`{"instance_uuid":"` + u + `","request_id":"req-1","host":"node1"}`,
			`{"instance_uuid":"` + u + `","force":true,"reboot_type":"HARD","volume_id":"vol-1"}`,
			`{"instance_uuid":"` + strings.ToUpper(u) + `"}`,
			`{"instance_uuid":"urn:uuid:` + u + `"}`,
			`{"instance_uuid":"` + u + `","request_id":"a\u0000b"}`,
			`{"instance_uuid":42}`, `{}`, `[]`, `{"instance_uuid":"` + u + `"} {}`,
		} {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, raw []byte) {
		m := methods[int(i)%len(methods)]
		req, err := m.Decode(raw)
		if err != nil {
			var e *managers.Error
			if !errors.As(err, &e) || e.Type != managers.InvalidArgumentType {
				t.Fatalf("%s: Decode(%q) = %v, want an InvalidArgument *managers.Error", m.Name, raw, err)
			}
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var fields struct {
			InstanceUUID string `json:"instance_uuid"`
			RequestID    string `json:"request_id"`
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		if managers.CheckUUID("instance_uuid", fields.InstanceUUID) != nil {
			t.Fatalf("%s accepted instance_uuid %q", m.Name, fields.InstanceUUID)
		}
		if managers.CheckText("request_id", fields.RequestID, managers.MaxRequestIDLen) != nil {
			t.Fatalf("%s accepted request_id %q", m.Name, fields.RequestID)
		}
	})
}
