package codec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
)

// writeRingFile writes a key ring file with a modification time one
// second later than the last, so that a change is seen whatever the file
// system's time resolution.
func writeRingFile(t *testing.T, path, content string, n int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Duration(n) * time.Second)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func ringJSON(current string, keys map[string]string) string {
	var parts []string
	for id, k := range keys {
		parts = append(parts, fmt.Sprintf("%q: %q", id, k))
	}
	return fmt.Sprintf(`{"current": %q, "keys": {%s}}`, current, strings.Join(parts, ", "))
}

// TestOpenReloads: a Codec of a file follows the file's changes (a
// rotation without restart), reads it at once for an unknown key id, and
// keeps its last good ring when the file breaks or goes, saying so once.
func TestOpenReloads(t *testing.T) {
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	writeRingFile(t, path, ringJSON("k1", map[string]string{"k1": k1}), 1)
	var reported []error
	c, err := Open(path, func(err error) { reported = append(reported, err) })
	if err != nil {
		t.Fatal(err)
	}
	encode := func() *commonpb.Payload {
		t.Helper()
		out, err := c.Encode([]*commonpb.Payload{payload(t, "v")})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	old := encode()
	if id := string(old.Metadata[MetadataKeyID]); id != "k1" {
		t.Fatalf("key %q", id)
	}

	// Rotation: k2 becomes current in the file. Within ReloadInterval the
	// file is not looked at; after it, the new ring is in use.
	writeRingFile(t, path, ringJSON("k2", map[string]string{"k1": k1, "k2": k2}), 2)
	if id := string(encode().Metadata[MetadataKeyID]); id != "k1" {
		t.Fatalf("key %q within the reload interval, want k1 still", id)
	}
	c.file.checked.Store(0) // as if ReloadInterval had passed
	if id := string(encode().Metadata[MetadataKeyID]); id != "k2" || c.CurrentKey() != "k2" {
		t.Fatalf("key %q after the file changed, want k2", id)
	}
	if _, err := c.Decode([]*commonpb.Payload{old}); err != nil {
		t.Fatalf("the old payload after rotation: %v", err)
	}

	// A payload of a key added to the file a moment ago: read at once.
	other := New(ring(t, "k3", map[string]string{"k3": k3}))
	fresh, _ := other.Encode([]*commonpb.Payload{payload(t, "w")})
	writeRingFile(t, path, ringJSON("k2", map[string]string{"k1": k1, "k2": k2, "k3": k3}), 3)
	if dec, err := c.Decode(fresh); err != nil || string(dec[0].Data) != `"w"` {
		t.Fatalf("a payload of a key just added: %v", err)
	}

	// A broken file: the last good ring stays, the error is reported once.
	writeRingFile(t, path, `{"current": "k9", "keys": {}}`, 4)
	for range 2 {
		c.file.checked.Store(0)
		if id := string(encode().Metadata[MetadataKeyID]); id != "k2" {
			t.Fatalf("key %q with a broken file, want the last good ring's k2", id)
		}
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "no keys") {
		t.Fatalf("reported %v, want one error", reported)
	}
	// A file gone (a Secret being swapped): the ring stays, nothing said.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c.file.checked.Store(0)
	if _, err := c.Decode(fresh); err != nil || len(reported) != 1 {
		t.Fatalf("file gone: %v, reported %v", err, reported)
	}
	// Still unknown after a look: the error names the key.
	stranger := New(ring(t, "k8", map[string]string{"k8": newKey(t)}))
	p, _ := stranger.Encode([]*commonpb.Payload{payload(t, "z")})
	var unknown *UnknownKeyError
	if _, err := c.Decode(p); !errors.As(err, &unknown) || unknown.KeyID != "k8" {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := Open(path, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v", err)
	}
}

// TestOpenSwapWhileOpening: a file replaced while Open looks at it (between
// its stat and its read) is not missed: the Codec uses the new ring at
// once, or at the next look.
func TestOpenSwapWhileOpening(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	writeRingFile(t, path, ringJSON("k1", map[string]string{"k1": k1}), 1)
	openBetweenLooks = func() {
		writeRingFile(t, path, ringJSON("k2", map[string]string{"k1": k1, "k2": k2}), 2)
	}
	t.Cleanup(func() { openBetweenLooks = nil })
	c, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.file.checked.Store(0) // as if ReloadInterval had passed
	out, err := c.Encode([]*commonpb.Payload{payload(t, "v")})
	if err != nil {
		t.Fatal(err)
	}
	if id := string(out[0].Metadata[MetadataKeyID]); id != "k2" || c.CurrentKey() != "k2" {
		t.Fatalf("key %q after the file was swapped during Open, want k2", id)
	}
}
