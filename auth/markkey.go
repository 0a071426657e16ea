package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// MinMarkKeyLen is the least length in bytes of a mark key (MarkKeys).
const MinMarkKeyLen = 32

// MarkKeys are the secret keys of the marks of the framework's runs
// (MarkKey): an HMAC-SHA256 over what the mark says, which only a holder of
// a key (a novaflow service: the keys are kept in its database, which a
// namespace writer cannot read) can make. The first key makes new MACs;
// every key verifies, so that a key can be added while marks made with an
// older one are still in flight (docs/security.md, rotating the mark key).
type MarkKeys struct {
	keys [][]byte
}

// NewMarkKeys returns the MarkKeys of keys, the one that signs first. A key
// shorter than MinMarkKeyLen, or none at all, is an error.
func NewMarkKeys(keys ...[]byte) (*MarkKeys, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no mark key")
	}
	k := &MarkKeys{}
	for i, key := range keys {
		if len(key) < MinMarkKeyLen {
			return nil, fmt.Errorf("mark key %d of %d is %d bytes, want at least %d", i+1, len(keys), len(key), MinMarkKeyLen)
		}
		k.keys = append(k.keys, append([]byte(nil), key...))
	}
	return k, nil
}

// The MACs' domains: a run's own mark, and a marked run's mark on the start
// of its child.
const (
	runDomain   = "novaflow-scheduled-run/run/v1"
	childDomain = "novaflow-scheduled-run/child/v1"
)

// RunMAC is the MAC of the mark of workflow run runID, of type workflowType
// in namespace, that the check at its start (workflows.CheckRunName) found
// started by schedule with the service's own input.
func (k *MarkKeys) RunMAC(namespace, workflowType, runID, schedule string) string {
	return k.mac(k.keys[0], runDomain, namespace, workflowType, runID, schedule)
}

// verifyRun reports whether mac is a RunMAC of the run under any key.
func (k *MarkKeys) verifyRun(mac, namespace, workflowType, runID, schedule string) bool {
	return k.verify(mac, runDomain, namespace, workflowType, runID, schedule)
}

// childMAC is the MAC of the mark a marked run parentRunID in namespace
// writes on the start of its children: it lets a child whose parent (as the
// server says) is that run mark its own activities.
func (k *MarkKeys) childMAC(namespace, parentRunID, schedule string) string {
	return k.mac(k.keys[0], childDomain, namespace, parentRunID, schedule)
}

// verifyChild reports whether mac is a childMAC under any key.
func (k *MarkKeys) verifyChild(mac, namespace, parentRunID, schedule string) bool {
	return k.verify(mac, childDomain, namespace, parentRunID, schedule)
}

func (k *MarkKeys) verify(mac string, fields ...string) bool {
	if k == nil || mac == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return false
	}
	ok := false
	for _, key := range k.keys {
		want, _ := base64.RawURLEncoding.DecodeString(k.mac(key, fields...))
		ok = hmac.Equal(got, want) || ok
	}
	return ok
}

// mac is the HMAC-SHA256 under key of fields, each prefixed with its
// length, so that no two lists of fields give the same input.
func (*MarkKeys) mac(key []byte, fields ...string) string {
	h := hmac.New(sha256.New, key)
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// String never shows the keys.
func (k *MarkKeys) String() string {
	if k == nil {
		return "<no mark keys>"
	}
	return fmt.Sprintf("<%d mark keys>", len(k.keys))
}

// GoString never shows the keys either (%#v).
func (k *MarkKeys) GoString() string { return k.String() }
