package managers_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

type flavorV struct {
	VCPUs int `json:"vcpus"`
	// Swap was added in 1.2.
	Swap int `json:"swap,omitempty" since:"1.2"`
}

type rebootV struct {
	UUID   string    `json:"uuid" required:"true"`
	Hard   bool      `json:"hard,omitempty"`
	Reason string    `json:"reason" since:"1.1"` // no omitempty: "" is on the wire
	Flavor flavorV   `json:"flavor"`
	Extra  []flavorV `json:"extra,omitempty"`
}

// compatReboot rewrites a graceful timeout into hard for 1.0.
type compatReboot struct {
	UUID    string `json:"uuid"`
	Hard    bool   `json:"hard,omitempty"`
	Timeout int    `json:"timeout,omitempty" since:"1.1"`
}

func (r *compatReboot) MakeCompatible(version string) error {
	if c, _ := managers.CompareVersions(version, "1.1"); c < 0 && r.Timeout != 0 {
		r.Hard, r.Timeout = r.Timeout < 5, 0
	}
	return nil
}

func TestBackport(t *testing.T) {
	rt := reflect.TypeFor[rebootV]()
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Zero newer fields are dropped, at any depth.
	out, err := managers.Backport("reboot", rt, enc(rebootV{UUID: "u", Flavor: flavorV{VCPUs: 1}, Extra: []flavorV{{VCPUs: 2}}}), "1.2", "1.0")
	if err != nil || string(out) != `{"extra":[{"vcpus":2}],"flavor":{"vcpus":1},"uuid":"u"}` {
		t.Errorf("zero newer fields: %s, %v", out, err)
	}
	// At 1.1 reason stays.
	if out, err = managers.Backport("reboot", rt, enc(rebootV{UUID: "u", Reason: "r"}), "1.2", "1.1"); err != nil || !strings.Contains(string(out), `"reason":"r"`) {
		t.Errorf("at 1.1: %s, %v", out, err)
	}
	// Set newer fields are refused, naming method, field and versions.
	for _, tt := range []struct {
		req   rebootV
		field string
	}{
		{rebootV{UUID: "u", Reason: "r"}, "reason"},
		{rebootV{UUID: "u", Flavor: flavorV{Swap: 1}}, "flavor.swap"},
		{rebootV{UUID: "u", Extra: []flavorV{{}, {Swap: 1}}}, "extra[1].swap"},
	} {
		_, err := managers.Backport("reboot", rt, enc(tt.req), "1.2", "1.0")
		var e *managers.Error
		if !errors.As(err, &e) || e.Type != managers.UnsupportedVersionType || e.Field != tt.field ||
			!strings.Contains(e.Message, "reboot") || !strings.Contains(e.Message, "1.0") || !strings.Contains(e.Message, "1.2") {
			t.Errorf("%+v: %v, want UnsupportedVersion of %s", tt.req, err, tt.field)
		}
	}
	// MakeCompatible rewrites a copy; the caller's request is untouched.
	req := &compatReboot{UUID: "u", Timeout: 3}
	got, err := managers.MakeCompatible("reboot", req, "1.0")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(*compatReboot); !c.Hard || c.Timeout != 0 || req.Timeout != 3 {
		t.Errorf("MakeCompatible: %+v (caller's %+v)", c, req)
	}
	if got, _ := managers.MakeCompatible("reboot", compatReboot{Timeout: 9}, "1.0"); got.(compatReboot).Hard || got.(compatReboot).Timeout != 0 {
		t.Errorf("MakeCompatible of a value: %+v", got)
	}
}

// instanceReq is shared by several methods; buildReq, one method's own,
// embeds it and adds a field.
type instanceReq struct {
	UUID string `json:"uuid"`
}

type buildReq struct {
	instanceReq
	Hint string `json:"hint,omitempty" since:"1.1"`
}

func TestBackportEmbedded(t *testing.T) {
	rt := reflect.TypeFor[buildReq]()
	out, err := managers.Backport("build", rt, []byte(`{"uuid":"u","hint":""}`), "1.1", "1.0")
	if err != nil || string(out) != `{"uuid":"u"}` {
		t.Errorf("a zero field beside an embedded struct: %s, %v", out, err)
	}
	if _, err := managers.Backport("build", rt, []byte(`{"uuid":"u","hint":"x"}`), "1.1", "1.0"); err == nil {
		t.Error("a set hint was sent at 1.0")
	}
	managers.NewMethod("build", "1.1", func(context.Context, buildReq) (struct{}, error) { return struct{}{}, nil })
}

func TestSinceDeclarations(t *testing.T) {
	fn := func(context.Context, rebootV) (struct{}, error) { return struct{}{}, nil }
	m := managers.NewMethod("reboot", "1.2", fn)
	if m.Added() != "1.0" || m.WithSince("1.2").Added() != "1.2" {
		t.Errorf("Added: %s, %s", m.Added(), m.WithSince("1.2").Added())
	}
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	panics("a since above the method's version", func() { managers.NewMethod("reboot", "1.1", fn) })
	panics("a since of another major", func() { managers.NewMethod("reboot", "2.3", fn) })
	panics("a required since field", func() {
		managers.NewMethod("x", "1.1", func(context.Context, struct {
			A string `json:"a" since:"1.1" required:"true"`
		}) (struct{}, error) {
			return struct{}{}, nil
		})
	})
	panics("WithSince above the version", func() { m.WithSince("1.3") })
}

// TestCheckSince: the callee refuses a request whose stamped version is
// older than a field it sets, at any depth, naming the field's path and
// both versions; zero newer fields, the method's own version and
// unversioned calls pass.
func TestCheckSince(t *testing.T) {
	m := managers.NewMethod("reboot", "1.2", func(ctx context.Context, req rebootV) (string, error) { return "", nil })
	for _, c := range []struct {
		req, version, field, since string
	}{
		{`{"uuid":"u","reason":"x"}`, "1.0", "reason", "1.1"},
		{`{"uuid":"u","reason":"x"}`, "1.1", "", ""},
		{`{"uuid":"u","reason":""}`, "1.0", "", ""},
		{`{"uuid":"u","flavor":{"vcpus":1,"swap":2}}`, "1.1", "flavor.swap", "1.2"},
		{`{"uuid":"u","extra":[{"vcpus":1},{"swap":2}]}`, "1.0", "extra[1].swap", "1.2"},
		{`{"uuid":"u","extra":[{"vcpus":1,"swap":0}]}`, "1.0", "", ""},
		{`{"uuid":"u","flavor":{"swap":2}}`, "1.2", "", ""},
		{`{"uuid":"u","flavor":{"swap":2}}`, "", "", ""},
		{`not json`, "1.0", "", ""}, // left to Decode
	} {
		err := m.CheckSince([]byte(c.req), c.version)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s at %q: %v, want it accepted", c.req, c.version, err)
			}
			continue
		}
		e, ok := managers.AsError(err)
		if !ok || e.Type != managers.InvalidArgumentType || e.Field != c.field ||
			!strings.Contains(e.Message, c.since) || !strings.Contains(e.Message, c.version) || !strings.Contains(e.Message, "reboot") {
			t.Errorf("%s at %q: %v, want InvalidArgument of %s naming reboot, %s and %s", c.req, c.version, err, c.field, c.since, c.version)
		}
	}
}
