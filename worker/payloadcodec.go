package worker

import (
	"context"
	"log/slog"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/policy"
)

// PayloadCodec returns the payload codec of NOVAFLOW_PAYLOAD_KEYS_FILE, nil
// when it is unset. A key ring that cannot be read or is not valid is a
// *ConfigError naming the setting (never a key's bytes). The codec reads
// the file again when it changes (codec.Open); a change that does not read
// as a key ring keeps the last good one and is logged to logger (nil: not
// logged).
func (c Config) PayloadCodec(logger *slog.Logger) (*codec.Codec, error) {
	if c.PayloadKeysFile == "" {
		return nil, nil
	}
	var onError func(error)
	if logger != nil {
		onError = func(err error) {
			logger.Error("NOVAFLOW_PAYLOAD_KEYS_FILE changed but cannot be used: the previous key ring stays in use", "error", err)
		}
	}
	pc, err := codec.Open(c.PayloadKeysFile, onError)
	if err != nil {
		return nil, &ConfigError{Setting: "NOVAFLOW_PAYLOAD_KEYS_FILE", Err: err}
	}
	return pc, nil
}

// Authz returns the token verifier and the policy of the authorization
// settings (NOVAFLOW_AUTH, NOVAFLOW_AUTH_JWKS, ...), both nil when
// NOVAFLOW_AUTH is off, for a process that checks tokens itself (novaflow
// codec-server). Errors name the setting.
func (c Config) Authz(ctx context.Context) (*auth.Verifier, *policy.Policy, error) {
	return c.loadAuthz(ctx, slog.Default())
}
