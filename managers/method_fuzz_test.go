package managers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// fuzzRequest has a field of each kind a request has.
type fuzzRequest struct {
	UUID   string            `json:"uuid" required:"true"`
	Count  int               `json:"count,omitempty"`
	Force  bool              `json:"force,omitempty"`
	Tags   []string          `json:"tags,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Flavor struct {
		VCPUs    int `json:"vcpus"`
		MemoryMB int `json:"memory_mb"`
	} `json:"flavor"`
	Ratio *float64 `json:"ratio,omitempty"`
}

func (r fuzzRequest) Validate() error {
	if err := CheckUUID("uuid", r.UUID); err != nil {
		return err
	}
	if r.Count < 0 {
		return InvalidArgument("count", "must not be negative, got %d", r.Count)
	}
	return nil
}

var fuzzMethod = NewMethod("fuzz", "1.0", func(_ context.Context, r fuzzRequest) (fuzzRequest, error) { return r, nil })

// FuzzMethodDecode decodes arbitrary bytes as a request, as every RPC
// method's activity and workflow do: it never panics; a failure is an
// InvalidArgument *Error with a bounded message; a success calls the method,
// whose result decodes again to the same request.
func FuzzMethodDecode(f *testing.F) {
	for _, s := range []string{
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`,
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","count":2,"force":true,"tags":["a"],"labels":{"k":"v"},"flavor":{"vcpus":1,"memory_mb":64},"ratio":0.5}`,
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","host":"node1"}`,
		`{"uuid":"urn:uuid:0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`,
		`{"uuid":5}`, `{"uuid":null}`, `{}`, `null`, ``, `[]`, `"x"`, `{"uuid":"x"} {}`, `{"bogus":1}`,
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","count":1e400}`,
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","flavor":{"vcpus":"1"}}`,
		`{"uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","count":-1}`,
		`{"uuid":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := fuzzMethod.Call(context.Background(), raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Type != InvalidArgumentType {
				t.Fatalf("Call(%q) = %v, want an InvalidArgument *Error", raw, err)
			}
			if len(e.Message) > 2*len(raw)+512 {
				t.Fatalf("a %d-byte request made a %d-byte message", len(raw), len(e.Message))
			}
			return
		}
		again, err := fuzzMethod.Call(context.Background(), out)
		if err != nil {
			t.Fatalf("the result %s of %q does not decode again: %v", out, raw, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("decoding is not stable: %s, then %s", out, again)
		}
		var back fuzzRequest
		if err := json.Unmarshal(out, &back); err != nil || back.Validate() != nil {
			t.Fatalf("accepted %q into an invalid request %s", raw, out)
		}
	})
}

// FuzzQuote quotes any value within a bounded length.
func FuzzQuote(f *testing.F) {
	f.Add("0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11")
	f.Add("\x00\xff\"")
	f.Fuzz(func(t *testing.T, s string) {
		if q := Quote(s); len(q) > 4*quoteMax+40 {
			t.Fatalf("Quote of %d bytes is %d bytes long", len(s), len(q))
		}
		if err := CheckText("f", s, 100); err == nil && (len(s) > 100 || bytes.IndexByte([]byte(s), 0) >= 0) {
			t.Fatalf("CheckText accepted %q", s)
		}
	})
}
