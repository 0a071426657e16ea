package managers

import (
	"context"
	"testing"
	"time"
)

type keyedInner struct {
	Size int `json:"size"`
}

type keyedBase struct {
	Project string `json:"project"`
}

type keyed struct {
	keyedBase
	UUID    string                `json:"instance_uuid"`
	Inner   keyedInner            `json:"inner"`
	List    []keyedInner          `json:"list"`
	Labels  map[string]keyedInner `json:"labels"`
	When    time.Time             `json:"when"`
	Ignored string                `json:"-"`
}

// TestDecodeRefusesInexactKeys: encoding/json takes a key that differs in
// case and lets the last of two win, so {"instance_uuid":"mine",
// "INSTANCE_UUID":"victim"} decoded to "victim" while a check reading the
// exact name (the authorization's owner lookup) saw "mine". Such requests
// are refused, naming the field, at every depth.
func TestDecodeRefusesInexactKeys(t *testing.T) {
	m := NewMethod("k", "1.0", func(ctx context.Context, r keyed) (keyed, error) { return r, nil })
	for _, c := range []struct{ in, field string }{
		{`{"instance_uuid":"mine","INSTANCE_UUID":"victim"}`, "INSTANCE_UUID"},
		{`{"Instance_UUID":"victim"}`, "Instance_UUID"},
		{`{"instance_uuid":"a","instance_uuid":"b"}`, "instance_uuid"},
		{`{"PROJECT":"b"}`, "PROJECT"},
		{`{"inner":{"SIZE":1}}`, "inner.SIZE"},
		{`{"list":[{"size":1},{"Size":2}]}`, "list[].Size"},
		{`{"labels":{"a":{"sıze":1}}}`, ""}, // not a fold of "size": unknown field
		{`{"labels":{"a":{"SIZE":1}}}`, "labels.a.SIZE"},
	} {
		_, err := m.Call(context.Background(), []byte(c.in))
		e, ok := AsError(err)
		if !ok || e.Type != InvalidArgumentType {
			t.Errorf("%s: got %v, want InvalidArgument", c.in, err)
			continue
		}
		if c.field != "" && e.Field != c.field {
			t.Errorf("%s: field %q, want %q (%v)", c.in, e.Field, c.field, err)
		}
	}
	for _, in := range []string{
		`{}`,
		`{"instance_uuid":"a","project":"p","inner":{"size":1},"list":[{"size":2}],"labels":{"A":{"size":3},"a":{"size":4}},"when":"2026-12-03T00:00:00Z"}`,
	} {
		if _, err := m.Call(context.Background(), []byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}
