package conductor

import (
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

func jsonInput(raw []byte) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     raw,
	})
}

// invalidArgument fails the test unless err is an InvalidArgument
// *managers.Error.
func invalidArgument(t *testing.T, what string, raw []byte, err error) {
	t.Helper()
	var e *managers.Error
	if !errors.As(err, &e) || e.Type != managers.InvalidArgumentType {
		t.Fatalf("%s(%q) = %v, want an InvalidArgument *managers.Error", what, raw, err)
	}
}

// FuzzBuildRequest decodes arbitrary bytes as the input of
// conductor.build_instances: no panic, InvalidArgument on failure, and an
// accepted request the build can run: 1 to MaxBuildCount instances of
// canonical, distinct UUIDs, a flavor of positive 32-bit sizes, a command,
// and a name and request id that can be stored.
func FuzzBuildRequest(f *testing.F) {
	const u = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	for _, s := range []string{
		`{"name":"web","count":2,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`,
		`{"name":"db","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["/bin/true"],"env":["A=1"]},"instance_uuids":["` + u + `"],"max_attempts":2,"request_id":"r1"}`,
		`{"flavor":{"vcpus":4294967296,"memory_mb":64},"image":{"command":["x"]}}`,
		`{"flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["x"]},"instance_uuids":["` + u + `","` + u + `"]}`,
		`{"flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["x"]}} {}`,
		`{"name":"\u0000","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["x"]}}`,
		`{"count":"2"}`, `{"bogus":1}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodeBuildRequest(jsonInput(raw))
		if err != nil {
			invalidArgument(t, "decodeBuildRequest", raw, err)
			return
		}
		if req.Count < 1 || req.Count > MaxBuildCount || (len(req.InstanceUUIDs) > 0 && len(req.InstanceUUIDs) != req.Count) {
			t.Fatalf("accepted count %d with %d UUIDs", req.Count, len(req.InstanceUUIDs))
		}
		fl := req.Flavor
		if fl.VCPUs < 1 || fl.MemoryMB < 1 || fl.DiskGB < 0 || fl.VCPUs > 1<<31-1 || fl.MemoryMB > 1<<31-1 || fl.DiskGB > 1<<31-1 {
			t.Fatalf("accepted flavor %+v", fl)
		}
		if len(req.Image.Command) == 0 || req.MaxAttempts < 0 {
			t.Fatalf("accepted %+v", req)
		}
		if managers.CheckText("name", req.Name, managers.MaxNameLen) != nil || managers.CheckText("request_id", req.RequestID, managers.MaxRequestIDLen) != nil {
			t.Fatalf("accepted name %q, request id %q", req.Name, req.RequestID)
		}
		seen := map[string]bool{}
		for _, id := range req.InstanceUUIDs {
			if managers.CheckUUID("u", id) != nil || seen[strings.ToLower(id)] {
				t.Fatalf("accepted instance_uuids %q", req.InstanceUUIDs)
			}
			seen[strings.ToLower(id)] = true
		}
	})
}

// FuzzBuildInstanceRequest decodes arbitrary bytes as the input of
// conductor.build_instance: no panic, InvalidArgument on failure, and an
// accepted request names a canonical UUID, a request id and valid hosts.
func FuzzBuildInstanceRequest(f *testing.F) {
	const u = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	for _, s := range []string{
		`{"uuid":"` + u + `","name":"web-1","request_id":"r","hosts":["node-1","node-2"]}`,
		`{"uuid":"` + u + `","request_id":"r","hosts":[]}`,
		`{"uuid":"` + u + `","request_id":"r","hosts":["a b"]}`,
		`{"uuid":5}`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodeBuildInstanceRequest(jsonInput(raw))
		if err != nil {
			invalidArgument(t, "decodeBuildInstanceRequest", raw, err)
			return
		}
		if managers.CheckUUID("uuid", req.UUID) != nil || req.RequestID == "" || len(req.Hosts) == 0 {
			t.Fatalf("accepted %+v", req)
		}
		for _, h := range req.Hosts {
			if !rpc.ValidHost(h) {
				t.Fatalf("accepted host %q", h)
			}
		}
	})
}
