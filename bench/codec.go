package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"

	"github.com/novaflow/novaflow/worker"
)

// runCodec measures what the payload codec (NOVAFLOW_PAYLOAD_KEYS_FILE)
// adds to a call: h1 without the codec, h2 (its service and its caller)
// with it.
func runCodec(ctx context.Context, args []string) error {
	return onOff{
		name:  "codec",
		title: "Payload codec: Call latency with and without it",
		off:   "novaflow `Call(ToHost(h1))` from another process, no codec",
		on:    "the same to h2, caller and service with the AES-256-GCM codec",
		setUp: func(dir string) (func(*worker.Config, bool), error) {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			ring := filepath.Join(dir, "keys.json")
			if err := os.WriteFile(ring, []byte(`{"current": "k1", "keys": {"k1": "`+base64.StdEncoding.EncodeToString(key)+`"}}`), 0o600); err != nil {
				return nil, err
			}
			return func(cfg *worker.Config, _ bool) { cfg.PayloadKeysFile = ring }, nil
		},
	}.run(ctx, args)
}
