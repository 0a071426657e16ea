package scheduler_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/scheduler"
)

// FuzzSchedulerRequests decodes arbitrary bytes as the request of every
// scheduler RPC method: it never panics, fails only with an InvalidArgument
// *managers.Error, and what it accepts is a request the database can take:
// a flavor of positive 32-bit sizes, at most scheduler.MaxInstances
// instances, canonical and distinct UUIDs.
func FuzzSchedulerRequests(f *testing.F) {
	methods := (&scheduler.Manager{}).RPCMethods()
	const u = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	for i := range methods {
		for _, s := range []string{
			`{"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1}}`,
			`{"flavor":{"vcpus":1,"memory_mb":64},"num_instances":2,"instance_uuids":["` + u + `","` + strings.ToUpper(u) + `"]}`,
			`{"flavor":{"vcpus":1,"memory_mb":64},"instance_uuids":["` + u + `"],"ignore_hosts":["h1"],"max_attempts":3}`,
			`{"flavor":{"vcpus":4294967296,"memory_mb":64}}`,
			`{"flavor":{"vcpus":1,"memory_mb":64},"num_instances":100000000}`,
			`{"flavor":{"vcpus":1,"memory_mb":64},"instance_uuids":["urn:uuid:` + u + `"]}`,
			`{"flavor":"big"}`, `{}`, `[]`,
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
		var r scheduler.SelectRequest
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		f := r.Flavor
		if f.VCPUs < 1 || f.MemoryMB < 1 || f.DiskGB < 0 || f.VCPUs > 1<<31-1 || f.MemoryMB > 1<<31-1 || f.DiskGB > 1<<31-1 {
			t.Fatalf("accepted flavor %+v", f)
		}
		if r.NumInstances > scheduler.MaxInstances || len(r.InstanceUUIDs) > scheduler.MaxInstances {
			t.Fatalf("accepted %d instances", max(r.NumInstances, len(r.InstanceUUIDs)))
		}
		seen := map[string]bool{}
		for _, id := range r.InstanceUUIDs {
			if managers.CheckUUID("u", id) != nil || seen[strings.ToLower(id)] {
				t.Fatalf("accepted instance_uuids %q", r.InstanceUUIDs)
			}
			seen[strings.ToLower(id)] = true
		}
	})
}
