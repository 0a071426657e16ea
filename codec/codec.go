package codec

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the encoding metadata of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID is the metadata key that holds the id of the key a
	// payload is encrypted with.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher is the metadata key that names the cipher.
	MetadataCipher = "encryption-cipher"
	// Cipher is the value of MetadataCipher.
	Cipher = "AES-256-GCM"
)

// ErrDecrypt is the error of a payload that its key does not decrypt: a
// wrong key under a known id, or altered data.
var ErrDecrypt = errors.New("payload does not decrypt")

// UnknownKeyError is the error of a payload encrypted with a key whose id is
// not in the ring.
type UnknownKeyError struct {
	KeyID string   // the id in the payload's metadata
	Known []string // the ids of the ring
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("codec: payload encrypted with key id %q, which is not in the key ring (it has %s): add that key to the ring", quote(e.KeyID), strings.Join(e.Known, ", "))
}

// Codec is an AES-256-GCM converter.PayloadCodec: Encode encrypts each
// payload (data and metadata) with the ring's current key, Decode decrypts
// the payloads it encrypted with any key of the ring and passes the others
// through unchanged (payloads written before the codec was turned on, or by
// a client without it). It is safe for concurrent use.
type Codec struct {
	ring atomic.Pointer[KeyRing]
	file *ringFile // nil: a fixed ring (New)
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns the Codec of a fixed ring.
func New(ring *KeyRing) *Codec {
	c := &Codec{}
	c.ring.Store(ring)
	return c
}

// CurrentKey is the id of the key Encode uses.
func (c *Codec) CurrentKey() string { return c.keys().current }

// keys is the ring to use now: with a file, read again when it changed.
func (c *Codec) keys() *KeyRing {
	if c.file != nil {
		c.file.refresh(c, false)
	}
	return c.ring.Load()
}

// additionalData binds a ciphertext to its key id and format.
func additionalData(id string) []byte { return []byte("novaflow/codec/v1/" + id) }

// Encode encrypts payloads with the current key. A payload that is already
// encrypted (Encoding) is passed through, so that encoding twice is harmless.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	ring := c.keys()
	id := ring.current
	aead := ring.aeads[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[converter.MetadataEncoding]) == Encoding {
			out[i] = p
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: encode payload: %w", err)
		}
		ns := aead.NonceSize()
		data := make([]byte, ns, ns+len(plain)+aead.Overhead())
		if _, err := rand.Read(data); err != nil {
			return payloads, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(id),
				MetadataCipher:             []byte(Cipher),
			},
			Data: aead.Seal(data, data, plain, additionalData(id)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads encrypted by a Codec. A payload encrypted
// with a key id the ring does not have fails with *UnknownKeyError; one that
// does not decrypt, with ErrDecrypt naming its key id.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	ring := c.keys()
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead := ring.aeads[id]
		if aead == nil && c.file != nil {
			// A key added to the file since it was last read?
			c.file.refresh(c, true)
			ring = c.ring.Load()
			aead = ring.aeads[id]
		}
		if aead == nil {
			return payloads, &UnknownKeyError{KeyID: id, Known: ring.IDs()}
		}
		if c := string(p.GetMetadata()[MetadataCipher]); c != "" && c != Cipher {
			return payloads, fmt.Errorf("codec: payload of key id %q is encrypted with %q, want %s", id, quote(c), Cipher)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return payloads, fmt.Errorf("codec: key id %q: %w: %d bytes is too short", id, ErrDecrypt, len(data))
		}
		ns := aead.NonceSize()
		plain, err := aead.Open(nil, data[:ns], data[ns:], additionalData(id))
		if err != nil {
			return payloads, fmt.Errorf("codec: key id %q: %w: wrong key or altered data", id, ErrDecrypt)
		}
		var dp commonpb.Payload
		if err := proto.Unmarshal(plain, &dp); err != nil {
			return payloads, fmt.Errorf("codec: key id %q: decrypted payload: %w", id, err)
		}
		out[i] = &dp
	}
	return out, nil
}
