package rpc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/novaflow/novaflow/managers"
)

func TestEncodeRequest(t *testing.T) {
	type req struct {
		Msg  string `json:"msg"`
		Host string `json:"host,omitempty"`
	}
	tests := []struct {
		name      string
		req       any
		host      string
		want      string
		wantHost  string
		wantField string // of an InvalidArgument error
	}{
		{"struct", req{Msg: "x"}, "", `{"msg":"x"}`, "", ""},
		{"struct to host", req{Msg: "x"}, "h1", `{"host":"h1","msg":"x"}`, "h1", ""},
		{"own host", req{Msg: "x", Host: "h2"}, "", `{"msg":"x","host":"h2"}`, "h2", ""},
		{"same host twice", req{Msg: "x", Host: "h2"}, "h2", `{"msg":"x","host":"h2"}`, "h2", ""},
		{"conflicting hosts", req{Msg: "x", Host: "h2"}, "h1", "", "", "host"},
		{"raw JSON", json.RawMessage(`{"a":1}`), "", `{"a":1}`, "", ""},
		{"bytes", []byte(`{"a":1}`), "h1", `{"a":1,"host":"h1"}`, "h1", ""},
		{"nil", nil, "", `{}`, "", ""},
		{"fanout", nil, "*", `{"host":"*"}`, "*", ""},
		{"not an object", []int{1}, "", "", "", ""},
		{"bad own host", map[string]any{"host": 3}, "", "", "", "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, host, err := encodeRequest(tt.req, tt.host)
			if tt.want == "" {
				e, ok := managers.AsError(err)
				if !ok || e.Type != managers.InvalidArgumentType || e.Field != tt.wantField {
					t.Fatalf("error %v, want InvalidArgument of %q", err, tt.wantField)
				}
				return
			}
			if err != nil || string(raw) != tt.want || host != tt.wantHost {
				t.Errorf("= %s, %q, %v; want %s, %q", raw, host, err, tt.want, tt.wantHost)
			}
		})
	}
}

func TestApplyOptions(t *testing.T) {
	o, err := applyOptions([]CallOption{ToHost("h1"), RequestID("r"), Version("1.2"), Remote()}, time.Minute)
	if err != nil || o.host != "h1" || o.requestID != "r" || o.version != "1.2" || !o.remote || o.timeout != time.Minute {
		t.Errorf("options %+v, %v", o, err)
	}
	for _, bad := range [][]CallOption{{ToHost("a b")}, {Version("1")}, {Timeout(-time.Second)}} {
		if _, err := applyOptions(bad, time.Minute); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
}

func TestWorkflowID(t *testing.T) {
	for _, tt := range []struct{ host, want string }{
		{"", "compute.reboot_instance/-/r1"},
		{"h1", "compute.reboot_instance/h1/r1"},
		{"*", "compute.reboot_instance/*/r1"},
	} {
		if got := WorkflowID("compute", "reboot_instance", tt.host, "r1"); got != tt.want {
			t.Errorf("WorkflowID(host %q) = %s, want %s", tt.host, got, tt.want)
		}
	}
}

func TestLoadUpgradeLevels(t *testing.T) {
	env := map[string]string{
		"NOVAFLOW_UPGRADE_LEVELS_COMPUTE":   "1.3",
		"NOVAFLOW_UPGRADE_LEVELS_SCHEDULER": "auto",
		"NOVAFLOW_UPGRADE_LEVELS_MY_TOPIC":  "2.0",
	}
	getenv := func(k string) string { return env[k] }
	got, err := LoadUpgradeLevels(getenv, "compute", "scheduler", "conductor", "my-topic")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"compute": "1.3", "scheduler": "auto", "my-topic": "2.0"}
	if len(got) != len(want) {
		t.Fatalf("levels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("level of %s = %q, want %q", k, got[k], v)
		}
	}
	env["NOVAFLOW_UPGRADE_LEVELS_COMPUTE"] = "latest"
	if _, err := LoadUpgradeLevels(getenv, "compute"); err == nil || err.Error() != `NOVAFLOW_UPGRADE_LEVELS_COMPUTE: "latest": want a version major.minor or "auto"` {
		t.Errorf("bad level: %v", err)
	}
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without Temporal succeeded")
	}
}

// BenchmarkEncodeRequest measures what the client does to a request before
// it starts the execution (encoding, the "host" routing field, the workflow
// ID) against the baseline of json.Marshal alone, in the same run:
// go test ./rpc -run '^$' -bench EncodeRequest.
func BenchmarkEncodeRequest(b *testing.B) {
	type rebootRequest struct {
		InstanceUUID string `json:"instance_uuid"`
		RebootType   string `json:"reboot_type"`
	}
	req := rebootRequest{InstanceUUID: "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11", RebootType: "HARD"}
	b.Run("baseline=json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("novaflow=encodeRequest+WorkflowID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, host, err := encodeRequest(req, "node1")
			if err != nil || host != "node1" || len(raw) == 0 {
				b.Fatalf("%s %q %v", raw, host, err)
			}
			_ = WorkflowID("compute", "reboot_instance", host, "req-1")
		}
	})
}
