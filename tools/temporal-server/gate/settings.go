package gate

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/policy"
)

// SettingError is a bad setting: it names it.
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// FromEnv builds the gate from the services' settings, read with getenv:
// NOVAFLOW_AUTH (off: nil, nil: the stock server), NOVAFLOW_AUTH_JWKS,
// _ISSUER, _AUDIENCE (default novaflow), _USER_CLAIM, _PROJECT_CLAIM,
// _ROLES_CLAIM, _POLICY_FILE, and NOVAFLOW_PAYLOAD_KEYS_FILE, with the
// meaning they have for the services (docs/security.md). A bad value is a
// *SettingError naming the setting. A JWKS URL is fetched now and again
// every auth.JWKSRefreshInterval until ctx ends.
func FromEnv(ctx context.Context, getenv func(string) string, logger *slog.Logger, logf func(string, ...string)) (*Gate, error) {
	if logger == nil {
		logger = slog.Default()
	}
	on := strings.TrimSpace(getenv("NOVAFLOW_AUTH"))
	if on == "" {
		return nil, nil
	}
	enabled, err := strconv.ParseBool(on)
	if err != nil {
		return nil, &SettingError{"NOVAFLOW_AUTH", fmt.Errorf("%q is not a boolean (true or false)", on)}
	}
	if !enabled {
		return nil, nil
	}
	cfg := auth.VerifierConfig{
		JWKS: getenv("NOVAFLOW_AUTH_JWKS"), Issuer: getenv("NOVAFLOW_AUTH_ISSUER"), Audience: getenv("NOVAFLOW_AUTH_AUDIENCE"),
		UserClaim: getenv("NOVAFLOW_AUTH_USER_CLAIM"), ProjectClaim: getenv("NOVAFLOW_AUTH_PROJECT_CLAIM"), RolesClaim: getenv("NOVAFLOW_AUTH_ROLES_CLAIM"),
		Logger: logger,
	}
	if cfg.Audience == "" {
		cfg.Audience = "novaflow"
	}
	for setting, v := range map[string]string{"NOVAFLOW_AUTH_USER_CLAIM": cfg.UserClaim, "NOVAFLOW_AUTH_PROJECT_CLAIM": cfg.ProjectClaim, "NOVAFLOW_AUTH_ROLES_CLAIM": cfg.RolesClaim} {
		if v == "" {
			continue
		}
		for _, part := range strings.Split(v, ".") {
			if strings.TrimSpace(part) == "" {
				return nil, &SettingError{setting, fmt.Errorf("%q: want a claim name, or a dotted path of non-empty names (realm_access.roles)", v)}
			}
		}
	}
	switch {
	case cfg.Issuer == "":
		return nil, &SettingError{"NOVAFLOW_AUTH_ISSUER", fmt.Errorf("required with NOVAFLOW_AUTH")}
	case cfg.JWKS == "":
		return nil, &SettingError{"NOVAFLOW_AUTH_JWKS", fmt.Errorf("required with NOVAFLOW_AUTH: a file or an https:// URL of the issuer's keys")}
	}
	v, err := auth.NewVerifier(ctx, cfg)
	if err != nil {
		return nil, &SettingError{"NOVAFLOW_AUTH_JWKS", err}
	}
	p := policy.Default()
	if f := getenv("NOVAFLOW_AUTH_POLICY_FILE"); f != "" {
		if p, err = policy.Load(f); err != nil {
			return nil, &SettingError{"NOVAFLOW_AUTH_POLICY_FILE", err}
		}
	}
	var c *codec.Codec
	if f := getenv("NOVAFLOW_PAYLOAD_KEYS_FILE"); f != "" {
		if c, err = codec.Open(f, func(err error) {
			logger.Warn("NOVAFLOW_PAYLOAD_KEYS_FILE: the key ring file changed and does not read; the last good ring stays in use", "error", err)
		}); err != nil {
			return nil, &SettingError{"NOVAFLOW_PAYLOAD_KEYS_FILE", err}
		}
	}
	return New(Options{Verifier: v, Policy: p, Codec: c, Logf: logf}), nil
}
