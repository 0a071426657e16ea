package compute_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
)

// FuzzInstanceValidate checks any instance as every driver does before it
// creates one: no panic; a failure is an *InvalidError naming a field; an
// accepted instance has a UUID safe as a file name, a name and flavor the
// database can store, and a command and environment an exec can take.
func FuzzInstanceValidate(f *testing.F) {
	f.Add("0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11", "web-1", 1, 64, 1, "/bin/sleep\x003600", "A=1\x00PATH=/bin")
	f.Add("vm-1", "", 1, 1, 0, "sleep", "")
	f.Add("..", "x", 1, 1, 0, "/bin/true", "")
	f.Add("a/b", "x", 1, 1, 0, "/bin/true", "")
	f.Add("vm", "x", 0, 1, 0, "/bin/true", "")
	f.Add("vm", "x", 1, 1, -1, "/bin/true", "")
	f.Add("vm", "x", 1<<31, 1, 0, "/bin/true", "")
	f.Add("vm", "x", 1, 1, 0, "", "NOEQUALS")
	f.Fuzz(func(t *testing.T, uuid, name string, vcpus, memoryMB, diskGB int, command, env string) {
		// NUL separates the arguments and the environment entries; a NUL
		// inside an argument cannot be expressed, so "\x01" stands for one.
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			parts := strings.Split(s, "\x00")
			for i := range parts {
				parts[i] = strings.ReplaceAll(parts[i], "\x01", "\x00")
			}
			return parts
		}
		inst := compute.Instance{UUID: uuid, Name: name, Flavor: compute.Flavor{VCPUs: vcpus, MemoryMB: memoryMB, DiskGB: diskGB},
			Command: split(command), Env: split(env)}
		err := inst.Validate()
		if err != nil {
			var ie *compute.InvalidError
			if !errors.As(err, &ie) || ie.Field == "" || !errors.Is(err, compute.ErrInvalid) {
				t.Fatalf("Validate(%+v) = %v, want an *InvalidError naming a field", inst, err)
			}
			return
		}
		if uuid == "." || uuid == ".." || strings.ContainsAny(uuid, "/\x00") || len(uuid) > compute.MaxUUIDLen {
			t.Fatalf("accepted UUID %q", uuid)
		}
		if len(name) > compute.MaxNameLen || strings.IndexByte(name, 0) >= 0 {
			t.Fatalf("accepted name %q", name)
		}
		if vcpus < 1 || memoryMB < 1 || diskGB < 0 || vcpus > compute.MaxFlavorValue || memoryMB > compute.MaxFlavorValue || diskGB > compute.MaxFlavorValue {
			t.Fatalf("accepted flavor %+v", inst.Flavor)
		}
		if len(inst.Command) == 0 || inst.Command[0] == "" {
			t.Fatalf("accepted command %q", inst.Command)
		}
		for _, a := range append(append([]string{}, inst.Command...), inst.Env...) {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("accepted a NUL byte in %q", a)
			}
		}
		for _, kv := range inst.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				t.Fatalf("accepted env entry %q", kv)
			}
		}
	})
}
