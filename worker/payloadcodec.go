package worker

import (
	"github.com/novaflow/novaflow/codec"
)

// PayloadCodec returns the payload codec of NOVAFLOW_PAYLOAD_KEYS_FILE, nil
// when it is unset. A key ring that cannot be read or is not valid is a
// *ConfigError naming the setting (never a key's bytes).
func (c Config) PayloadCodec() (*codec.Codec, error) {
	if c.PayloadKeysFile == "" {
		return nil, nil
	}
	ring, err := codec.LoadKeyRing(c.PayloadKeysFile)
	if err != nil {
		return nil, &ConfigError{Setting: "NOVAFLOW_PAYLOAD_KEYS_FILE", Err: err}
	}
	return codec.New(ring), nil
}
