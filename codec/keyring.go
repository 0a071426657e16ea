// Package codec encrypts the payloads novaflow sends to Temporal (requests,
// results, memos, headers, failure messages) with AES-256-GCM, so that they
// are unreadable in Temporal's store and its Web UI, and serves the same
// codec over HTTP (Temporal's codec server protocol) so that an authorized
// operator can read them.
//
// Keys come from a key ring file (Open, LoadKeyRing): key ids mapped to
// 32-byte keys, one of them current. Payloads are encrypted with the current
// key and carry its id in their metadata, so any key of the ring decrypts
// them: adding a new current key keeps older histories readable. DialOption
// puts a codec on a Temporal client's connection; NewHandler serves it.
package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// KeySize is the size of a key: 32 bytes, AES-256.
const KeySize = 32

// maxKeyRingFile bounds the size of a key ring file.
const maxKeyRingFile = 1 << 20

// KeyRing is a set of keys by id, one of them current. It is immutable and
// safe for concurrent use.
type KeyRing struct {
	current string
	aeads   map[string]cipher.AEAD
}

// keyRingFile is the JSON form of a key ring file:
//
//	{"current": "2026-12", "keys": {"2026-11": "<base64>", "2026-12": "<base64>"}}
type keyRingFile struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
}

// LoadKeyRing reads a key ring from a JSON file of the form
//
//	{"current": "2026-12", "keys": {"2026-11": "<base64>", "2026-12": "<base64>"}}
//
// where each key is 32 bytes in standard base64 (`head -c 32 /dev/urandom |
// base64`). Errors name the file and the key id, never a key's bytes.
func LoadKeyRing(path string) (*KeyRing, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyRingFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyRingFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxKeyRingFile)
	}
	r, err := ParseKeyRing(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseKeyRing parses the content of a key ring file (LoadKeyRing).
func ParseKeyRing(data []byte) (*KeyRing, error) {
	var f keyRingFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// json's errors may quote the input: say where, not what.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not a key ring: invalid JSON at byte %d", syn.Offset)
		}
		return nil, errors.New(`not a key ring: want {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>", ...}}`)
	}
	if dec.More() {
		return nil, errors.New("not a key ring: data after the JSON object")
	}
	if len(f.Keys) == 0 {
		return nil, errors.New(`no keys: want {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}`)
	}
	r := &KeyRing{current: f.Current, aeads: make(map[string]cipher.AEAD, len(f.Keys))}
	for id, enc := range f.Keys {
		if err := validID(id); err != nil {
			return nil, err
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("key %q: not standard base64", id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %q: %d bytes, want %d (AES-256)", id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		r.aeads[id] = aead
	}
	switch {
	case f.Current == "":
		return nil, errors.New(`no current key: set "current" to the id of the key that encrypts`)
	case r.aeads[f.Current] == nil:
		return nil, fmt.Errorf("current key %q is not among the keys (%s)", f.Current, strings.Join(r.IDs(), ", "))
	}
	return r, nil
}

// validID checks a key id: 1 to 64 letters, digits, '.', '_' or '-'.
func validID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", quote(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", quote(id))
		}
	}
	return nil
}

// quote cuts s to 64 bytes for an error message.
func quote(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Current is the id of the key that encrypts.
func (r *KeyRing) Current() string { return r.current }

// IDs are the ids of the ring's keys, sorted.
func (r *KeyRing) IDs() []string {
	ids := make([]string, 0, len(r.aeads))
	for id := range r.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
