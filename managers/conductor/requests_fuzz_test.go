package conductor_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/conductor"
)

// FuzzConductorRequests decodes arbitrary bytes as the request of every
// conductor RPC method: it never panics, fails only with an InvalidArgument
// *managers.Error, and what it accepts can be stored: canonical, distinct
// UUIDs, text without NUL bytes within bounds, instances a compute driver
// accepts.
func FuzzConductorRequests(f *testing.F) {
	methods := (&conductor.Manager{}).RPCMethods()
	const u = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	for i := range methods {
		for _, s := range []string{
			`{"request_id":"r","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["/bin/true"]},"instances":[{"uuid":"` + u + `","name":"x"}]}`,
			`{"request_id":"r","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["/bin/true"],"env":["A=1"]},"instances":[{"uuid":"` + u + `"},{"uuid":"` + strings.ToUpper(u) + `"}]}`,
			`{"instance_uuid":"` + u + `","dest_host":"node-1"}`,
			`{"instance_uuid":"` + u + `","request_id":"r","fault":"it broke"}`,
			`{"instance_uuid":"` + u + `","dest_host":"a\u0000b"}`,
			`{"request_id":"\u0000"}`, `{}`, `[]`,
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
		b, _ := json.Marshal(req)
		var got struct {
			conductor.CreateRequest
			InstanceUUID string `json:"instance_uuid"`
			DestHost     string `json:"dest_host"`
			Fault        string `json:"fault"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{got.RequestID, got.Fault, got.DestHost, got.Flavor.Name} {
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("%s accepted a NUL byte: %s", m.Name, b)
			}
		}
		if got.InstanceUUID != "" && managers.CheckUUID("u", got.InstanceUUID) != nil {
			t.Fatalf("%s accepted instance_uuid %q", m.Name, got.InstanceUUID)
		}
		seen := map[string]bool{}
		for _, n := range got.Instances {
			inst := compute.Instance{UUID: n.UUID, Name: n.Name, Flavor: got.Flavor, Command: got.Image.Command, Env: got.Image.Env}
			if managers.CheckUUID("u", n.UUID) != nil || seen[strings.ToLower(n.UUID)] || inst.Validate() != nil {
				t.Fatalf("%s accepted instance %+v: %v", m.Name, n, inst.Validate())
			}
			seen[strings.ToLower(n.UUID)] = true
		}
	})
}
