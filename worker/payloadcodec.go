package worker

import (
	"context"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/policy"
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

// Authz returns the token verifier and the policy of the authorization
// settings (NOVAFLOW_AUTH, NOVAFLOW_AUTH_JWKS, ...), both nil when
// NOVAFLOW_AUTH is off, for a process that checks tokens itself (novaflow
// codec-server). Errors name the setting.
func (c Config) Authz(ctx context.Context) (*auth.Verifier, *policy.Policy, error) {
	return c.loadAuthz(ctx)
}
