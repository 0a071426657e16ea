package rpc

import (
	"encoding/json"
	"errors"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/novaflow/novaflow/managers"
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

// FuzzRequestRouting reads the routing of an RPC workflow's input as
// MethodWorkflow does: inputJSON, requestHost, WithHost and objectOf never
// panic; a host is a valid host name, "" or "*"; WithHost sets what
// requestHost reads back; an object is bounded.
func FuzzRequestRouting(f *testing.F) {
	for _, s := range []string{
		`{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","host":"node1"}`,
		`{"host":"*"}`, `{"host":""}`, `{"host":null}`, `{"host":7}`, `{"host":"a/b"}`,
		`{"instance_uuid":{"x":1}}`, `[]`, `"x"`, `null`, ``, `{"host":"node1"} {}`,
	} {
		f.Add([]byte(s), "node-2")
	}
	f.Fuzz(func(t *testing.T, raw []byte, host string) {
		in, err := inputJSON(jsonInput(raw))
		if err != nil {
			t.Fatalf("inputJSON of JSON: %v", err)
		}
		h, err := requestHost(in)
		if err != nil {
			invalidArgument(t, "requestHost", raw, err)
		} else if h != "" && h != AllHosts && !ValidHost(h) {
			t.Fatalf("requestHost(%q) = %q, not a host", raw, h)
		}
		if obj := objectOf(in, "instance_uuid"); len(obj) > maxObjectLen {
			t.Fatalf("objectOf returned %d bytes", len(obj))
		}
		if !ValidHost(host) {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil {
			return // not an object: WithHost leaves it as it is
		}
		if got, err := requestHost(withHost(in, host)); err != nil || got != host {
			t.Fatalf("requestHost(withHost(%q, %q)) = %q, %v", raw, host, got, err)
		}
	})
}
