package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func newKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func ring(t testing.TB, current string, keys map[string]string) *KeyRing {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"current": %q, "keys": {`, current)
	i := 0
	for id, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q: %q", id, k)
		i++
	}
	b.WriteString("}}")
	r, err := ParseKeyRing([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func payload(t testing.TB, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesData(t *testing.T) {
	c := New(ring(t, "k1", map[string]string{"k1": newKey(t)}))
	in := []*commonpb.Payload{payload(t, map[string]string{"name": "secret-instance-name"}), nil, payload(t, "x")}
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range enc {
		if p == nil {
			if in[i] != nil {
				t.Fatalf("payload %d became nil", i)
			}
			continue
		}
		if got := string(p.Metadata[converter.MetadataEncoding]); got != Encoding {
			t.Fatalf("payload %d encoding %q", i, got)
		}
		if got := string(p.Metadata[MetadataKeyID]); got != "k1" {
			t.Fatalf("payload %d key id %q", i, got)
		}
		if bytes.Contains(p.Data, []byte("secret-instance-name")) || bytes.Contains(p.Data, []byte("json/plain")) {
			t.Fatalf("payload %d holds its plain text", i)
		}
	}
	again, err := c.Encode(enc)
	if err != nil || !bytes.Equal(again[0].Data, enc[0].Data) {
		t.Fatalf("encoding an encrypted payload again changed it (err %v)", err)
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &got); err != nil || got["name"] != "secret-instance-name" {
		t.Fatalf("decoded %v, %v", got, err)
	}
	if dec[1] != nil || string(dec[2].Data) != `"x"` {
		t.Fatalf("decoded %v %v", dec[1], dec[2])
	}
}

func TestDecodePassesPlainPayloadsThrough(t *testing.T) {
	c := New(ring(t, "k1", map[string]string{"k1": newKey(t)}))
	p := payload(t, "plain")
	dec, err := c.Decode([]*commonpb.Payload{p})
	if err != nil || dec[0] != p {
		t.Fatalf("plain payload: %v, %v", dec[0], err)
	}
}

// TestKeyRotation: payloads encrypted with the old current key stay
// readable once a new key is current; new ones use the new key; a ring
// without the old key names it.
func TestKeyRotation(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	before := New(ring(t, "2026-11", map[string]string{"2026-11": k1}))
	old, err := before.Encode([]*commonpb.Payload{payload(t, "old request")})
	if err != nil {
		t.Fatal(err)
	}
	after := New(ring(t, "2026-12", map[string]string{"2026-11": k1, "2026-12": k2}))
	fresh, err := after.Encode([]*commonpb.Payload{payload(t, "new request")})
	if err != nil {
		t.Fatal(err)
	}
	if id := string(fresh[0].Metadata[MetadataKeyID]); id != "2026-12" || after.CurrentKey() != "2026-12" {
		t.Fatalf("new payload encrypted with %q, want the new current key", id)
	}
	dec, err := after.Decode([]*commonpb.Payload{old[0], fresh[0]})
	if err != nil {
		t.Fatalf("rotated ring cannot read the old history: %v", err)
	}
	if string(dec[0].Data) != `"old request"` || string(dec[1].Data) != `"new request"` {
		t.Fatalf("decoded %q %q", dec[0].Data, dec[1].Data)
	}
	// The old ring cannot read what the new key wrote: it names the key id.
	_, err = before.Decode(fresh)
	var unknown *UnknownKeyError
	if !errors.As(err, &unknown) || unknown.KeyID != "2026-12" || !strings.Contains(err.Error(), `"2026-12"`) {
		t.Fatalf("unknown key: %v", err)
	}
	// A ring whose key under the same id differs: ErrDecrypt naming the id.
	other := New(ring(t, "2026-11", map[string]string{"2026-11": k2}))
	if _, err := other.Decode(old); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), `"2026-11"`) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestTamperedPayloadFails(t *testing.T) {
	c := New(ring(t, "a", map[string]string{"a": newKey(t), "b": newKey(t)}))
	enc, err := c.Encode([]*commonpb.Payload{payload(t, "v")})
	if err != nil {
		t.Fatal(err)
	}
	flipped := &commonpb.Payload{Metadata: enc[0].Metadata, Data: bytes.Clone(enc[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{flipped}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("flipped bit: %v", err)
	}
	// The key id is bound to the ciphertext: relabelling it fails.
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("b")}, Data: enc[0].Data}
	if _, err := c.Decode([]*commonpb.Payload{relabelled}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("relabelled key id: %v", err)
	}
	short := &commonpb.Payload{Metadata: enc[0].Metadata, Data: []byte("x")}
	if _, err := c.Decode([]*commonpb.Payload{short}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short data: %v", err)
	}
}

func TestBadKeyRings(t *testing.T) {
	good := newKey(t)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", ``, "not a key ring"},
		{"not json", `k1=abc`, "invalid JSON"},
		{"unknown field", `{"current":"k1","keys":{"k1":"` + good + `"},"extra":1}`, "not a key ring"},
		{"trailing", `{"current":"k1","keys":{"k1":"` + good + `"}} {}`, "data after"},
		{"no keys", `{"current":"k1","keys":{}}`, "no keys"},
		{"no current", `{"keys":{"k1":"` + good + `"}}`, "no current key"},
		{"current missing", `{"current":"k2","keys":{"k1":"` + good + `"}}`, `current key "k2" is not among the keys (k1)`},
		{"short key", `{"current":"k1","keys":{"k1":"` + short + `"}}`, `key "k1": 16 bytes, want 32`},
		{"not base64", `{"current":"k1","keys":{"k1":"not base64!"}}`, `key "k1": not standard base64`},
		{"bad id", `{"current":"a b","keys":{"a b":"` + good + `"}}`, `key id "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyRing([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), good) {
				t.Fatalf("the error quotes a key: %v", err)
			}
		})
	}
}

func TestLoadKeyRing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte(`{"current":"k1","keys":{"k1":"`+newKey(t)+`"}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := LoadKeyRing(path)
	if err != nil || r.Current() != "k1" || strings.Join(r.IDs(), ",") != "k1" {
		t.Fatalf("LoadKeyRing: %v, %v", r, err)
	}
	if _, err := LoadKeyRing(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), maxKeyRingFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyRing(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big file: %v", err)
	}
}

func BenchmarkCodec(b *testing.B) {
	c := New(ring(b, "k1", map[string]string{"k1": newKey(b)}))
	for _, size := range []int{100, 1 << 10, 16 << 10, 256 << 10, 1 << 20} {
		data := bytes.Repeat([]byte("a"), size)
		p := []*commonpb.Payload{{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain")}, Data: data}}
		enc, err := c.Encode(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("encode/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := c.Encode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decode/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := c.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
