package rpc

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

// FuzzEncodeRequest encodes any request JSON and target host as a Client
// does before it starts a call: no panic; a failure is an InvalidArgument
// *managers.Error; a success is a JSON object whose "host" is the target.
func FuzzEncodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`,
		`{"instance_uuid":"x","host":"node1"}`, `{"host":"*"}`, `{"host":5}`, `{"host":"a b"}`,
		`[]`, `null`, `"x"`, ``, `{} {}`,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "node1")
	}
	f.Fuzz(func(t *testing.T, raw []byte, host string) {
		if host != "" && host != AllHosts && !ValidHost(host) {
			return // applyOptions refuses it first
		}
		out, target, err := encodeRequest(json.RawMessage(raw), host)
		if err != nil {
			var e *managers.Error
			if !errors.As(err, &e) || e.Type != managers.InvalidArgumentType {
				t.Fatalf("encodeRequest(%q, %q) = %v, want an InvalidArgument *managers.Error", raw, host, err)
			}
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(out, &obj); err != nil || obj == nil {
			t.Fatalf("encodeRequest(%q, %q) = %q, not a JSON object", raw, host, out)
		}
		if got, err := requestHost(out); err != nil || got != target {
			t.Fatalf("encodeRequest(%q, %q): target %q, but the request routes to %q (%v)", raw, host, target, got, err)
		}
		if host != "" && target != host {
			t.Fatalf("encodeRequest(%q, %q): target %q", raw, host, target)
		}
	})
}
