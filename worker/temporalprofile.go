package worker

import (
	"crypto/x509"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"

	"go.temporal.io/sdk/contrib/envconfig"
)

// The Temporal client settings are read from two places, as the `temporal`
// CLI reads them:
//
//   - Temporal's own configuration (go.temporal.io/sdk/contrib/envconfig):
//     the profile TEMPORAL_PROFILE names (default: "default") of the TOML
//     file TEMPORAL_CONFIG_FILE names (default: temporalio/temporal.toml in
//     the user's configuration folder), with TEMPORAL_ADDRESS,
//     TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS* and
//     TEMPORAL_GRPC_META_* over it, and the legacy TEMPORAL_TLS_CERT,
//     _KEY and _CA (and their _DATA) over all, as the CLI does;
//   - NOVAFLOW_TEMPORAL_*, over Temporal's: each one that is set wins over
//     the value the profile and TEMPORAL_* give for the same setting.
//
// cmd's --address, --namespace, --profile and --config-file flags are set
// as NOVAFLOW_TEMPORAL_ADDRESS, NOVAFLOW_TEMPORAL_NAMESPACE,
// TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE over the environment before it
// is passed down, so that flags win over all.

// temporalExtras is what Temporal's configuration gives that has no
// NOVAFLOW_TEMPORAL_* setting: certificates given inline (PEM data rather
// than a file), host verification turned off, TLS turned off though an API
// key is set, gRPC metadata, and where each setting came from (for error
// messages).
type temporalExtras struct {
	caData, certData, keyData []byte
	tlsDisabled               bool
	skipVerify                bool
	grpcMeta                  map[string]string
	// source maps a NOVAFLOW_TEMPORAL_* name to the setting its value came
	// from when that is not the NOVAFLOW_TEMPORAL_* variable itself.
	source map[string]string
}

// envLookup adapts Env to envconfig.EnvLookup, so that envconfig reads the
// environment cmd passes down, never the process's.
type envLookup Env

func (e envLookup) Environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func (e envLookup) LookupEnv(key string) (string, bool) { return Env(e).Lookup(key) }

// TemporalConfigFile returns the path of Temporal's client configuration
// file that env selects: TEMPORAL_CONFIG_FILE, else the `temporal` CLI's
// default, temporalio/temporal.toml in the user's configuration folder (as
// os.UserConfigDir finds it, from env's variables rather than the
// process's). "" when there is none (no home folder).
func TemporalConfigFile(env Env) string {
	if f := env.Get("TEMPORAL_CONFIG_FILE"); f != "" {
		return f
	}
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = env.Get("AppData")
	case "darwin", "ios":
		if h := env.Get("HOME"); h != "" {
			dir = filepath.Join(h, "Library", "Application Support")
		}
	case "plan9":
		if h := env.Get("home"); h != "" {
			dir = filepath.Join(h, "lib")
		}
	default:
		dir = env.Get("XDG_CONFIG_HOME")
		if !filepath.IsAbs(dir) {
			dir = ""
			if h := env.Get("HOME"); h != "" {
				dir = filepath.Join(h, ".config")
			}
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "temporalio", "temporal.toml")
}

// applyTemporalProfile fills the Temporal client settings of c that no
// NOVAFLOW_TEMPORAL_* variable of env sets from Temporal's own
// configuration: TEMPORAL_* variables over the selected profile. A profile
// that is named but absent, or a file that does not parse, is a
// *ConfigError naming TEMPORAL_PROFILE or TEMPORAL_CONFIG_FILE.
func (c *Config) applyTemporalProfile(env Env) error {
	file := TemporalConfigFile(env)
	profileName := env.Get("TEMPORAL_PROFILE")
	var prof envconfig.ClientConfigProfile
	if file != "" {
		conf, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{ConfigFilePath: file, EnvLookup: envLookup(env)})
		if err != nil {
			return &ConfigError{Setting: "TEMPORAL_CONFIG_FILE", Err: fmt.Errorf("%s: %w", file, err)}
		}
		name := profileName
		if name == "" {
			name = envconfig.DefaultConfigFileProfile
		}
		if p := conf.Profiles[name]; p != nil {
			prof = *p
		} else if profileName != "" {
			return &ConfigError{Setting: "TEMPORAL_PROFILE", Err: fmt.Errorf("no profile %q in %s", profileName, file)}
		}
	} else if profileName != "" {
		return &ConfigError{Setting: "TEMPORAL_PROFILE", Err: fmt.Errorf("no profile %q: no TEMPORAL_CONFIG_FILE and no home folder", profileName)}
	}
	// What the file gave, for the error messages: the profile named.
	fromFile := func(key string) string {
		name := profileName
		if name == "" {
			name = envconfig.DefaultConfigFileProfile
		}
		return fmt.Sprintf("%s of profile %q in %s", key, name, file)
	}
	if err := prof.ApplyEnvVars(envLookup(env)); err != nil {
		return &ConfigError{Setting: "TEMPORAL_*", Err: err}
	}
	legacyTLS(&prof, env)

	x := &temporalExtras{source: map[string]string{}}
	// set gives setting (a NOVAFLOW_TEMPORAL_* name) the value v of
	// Temporal's configuration when setting is not set itself; src names
	// where v came from: the TEMPORAL_* variable when one is set, else the
	// profile's key.
	novaflowSet := func(setting string) bool { return env.Get(setting) != "" }
	source := func(envNames ...string) func(string) string {
		return func(key string) string {
			for _, n := range envNames {
				if _, ok := env.Lookup(n); ok {
					return n
				}
			}
			return fromFile(key)
		}
	}
	set := func(setting string, dst *string, v string, src func(string) string, key string) {
		if v == "" || novaflowSet(setting) {
			return
		}
		*dst = v
		x.source[setting] = src(key)
	}
	set("NOVAFLOW_TEMPORAL_ADDRESS", &c.TemporalAddress, prof.Address, source("TEMPORAL_ADDRESS"), "address")
	set("NOVAFLOW_TEMPORAL_NAMESPACE", &c.TemporalNamespace, prof.Namespace, source("TEMPORAL_NAMESPACE"), "namespace")
	if !novaflowSet("NOVAFLOW_TEMPORAL_API_KEY_FILE") {
		set("NOVAFLOW_TEMPORAL_API_KEY", &c.TemporalAPIKey, prof.APIKey, source("TEMPORAL_API_KEY"), "api_key")
	}
	// Any NOVAFLOW_TEMPORAL_TLS* setting makes the TLS settings novaflow's:
	// a certificate from one place and its key from another would not match.
	novaflowTLS := false
	for _, s := range []string{"TLS", "TLS_CA", "TLS_CERT", "TLS_KEY", "TLS_SERVER_NAME"} {
		novaflowTLS = novaflowTLS || novaflowSet("NOVAFLOW_TEMPORAL_"+s)
	}
	if t := prof.TLS; t != nil && !novaflowTLS {
		if t.Disabled {
			x.tlsDisabled = true
		} else {
			c.TemporalTLS = true
			x.source["NOVAFLOW_TEMPORAL_TLS"] = source("TEMPORAL_TLS")("tls")
		}
		c.TemporalTLSCA, c.TemporalTLSCert, c.TemporalTLSKey, c.TemporalTLSServerName = t.ServerCACertPath, t.ClientCertPath, t.ClientKeyPath, t.ServerName
		x.caData, x.certData, x.keyData = t.ServerCACertData, t.ClientCertData, t.ClientKeyData
		x.skipVerify = t.DisableHostVerification
		given := func(setting string, v string, data []byte, src func(string) string, key string) {
			if v != "" || len(data) > 0 {
				x.source[setting] = src(key)
			}
		}
		given("NOVAFLOW_TEMPORAL_TLS_CA", t.ServerCACertPath, t.ServerCACertData,
			source("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_DATA"), "tls.server_ca_cert_path")
		given("NOVAFLOW_TEMPORAL_TLS_CERT", t.ClientCertPath, t.ClientCertData,
			source("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CERT_DATA", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA"), "tls.client_cert_path")
		given("NOVAFLOW_TEMPORAL_TLS_KEY", t.ClientKeyPath, t.ClientKeyData,
			source("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_KEY_DATA", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA"), "tls.client_key_path")
		given("NOVAFLOW_TEMPORAL_TLS_SERVER_NAME", t.ServerName, nil, source("TEMPORAL_TLS_SERVER_NAME"), "tls.server_name")
		if err := x.checkTLS(c); err != nil {
			return err
		}
	}
	if len(prof.GRPCMeta) > 0 {
		x.grpcMeta = maps.Clone(prof.GRPCMeta)
	}
	c.temporal = x
	return nil
}

// legacyTLS applies TEMPORAL_TLS_CERT, _KEY and _CA (and their _DATA), which
// the `temporal` CLI still reads, over the profile, as the CLI does.
func legacyTLS(prof *envconfig.ClientConfigProfile, env Env) {
	t := prof.TLS
	if t == nil {
		t = &envconfig.ClientConfigTLS{}
	}
	given := false
	legacy := func(name string, path *string, data *[]byte) {
		if p := env.Get(name); p != "" {
			*path, given = p, true
		}
		if d := env.Get(name + "_DATA"); d != "" {
			*data, given = []byte(d), true
		}
	}
	legacy("TEMPORAL_TLS_CERT", &t.ClientCertPath, &t.ClientCertData)
	legacy("TEMPORAL_TLS_KEY", &t.ClientKeyPath, &t.ClientKeyData)
	legacy("TEMPORAL_TLS_CA", &t.ServerCACertPath, &t.ServerCACertData)
	if given {
		prof.TLS = t
	}
}

// checkTLS checks the inline certificates of Temporal's configuration, and
// that each certificate is given once, as a file or as data, so that a bad
// one stops the service at start with the setting named.
func (x *temporalExtras) checkTLS(c *Config) error {
	both := []struct {
		setting, path string
		data          []byte
	}{
		{"NOVAFLOW_TEMPORAL_TLS_CA", c.TemporalTLSCA, x.caData},
		{"NOVAFLOW_TEMPORAL_TLS_CERT", c.TemporalTLSCert, x.certData},
		{"NOVAFLOW_TEMPORAL_TLS_KEY", c.TemporalTLSKey, x.keyData},
	}
	for _, b := range both {
		if b.path != "" && len(b.data) > 0 {
			return &ConfigError{Setting: x.source[b.setting], Err: fmt.Errorf("both a file and data are given")}
		}
	}
	if len(x.caData) > 0 && !x509.NewCertPool().AppendCertsFromPEM(x.caData) {
		return &ConfigError{Setting: x.source["NOVAFLOW_TEMPORAL_TLS_CA"], Err: fmt.Errorf("no PEM certificate in the data")}
	}
	return nil
}

// setting returns the name of the setting the value of the
// NOVAFLOW_TEMPORAL_* setting name came from: name itself, or the TEMPORAL_*
// variable or profile key that gave it.
func (c Config) setting(name string) string {
	if c.temporal != nil {
		if s, ok := c.temporal.source[name]; ok {
			return s
		}
	}
	return name
}

// SettingSource returns where the value of the NOVAFLOW_TEMPORAL_* setting
// name comes from, for messages: name itself (set, or its default), the
// TEMPORAL_* variable, or the key of a profile of Temporal's configuration.
func (c Config) SettingSource(name string) string { return c.setting(name) }

// TemporalAddressSource returns where the Temporal address of c comes from:
// "NOVAFLOW_TEMPORAL_ADDRESS" (set, or the default), "TEMPORAL_ADDRESS", or
// a profile's address key.
func (c Config) TemporalAddressSource() string { return c.setting("NOVAFLOW_TEMPORAL_ADDRESS") }

// TemporalAddressGiven reports whether env sets the Temporal address
// anywhere (NOVAFLOW_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS or a profile) rather
// than leaving it to its default.
func (c Config) TemporalAddressGiven(env Env) bool {
	return env.Get("NOVAFLOW_TEMPORAL_ADDRESS") != "" || c.TemporalAddressSource() != "NOVAFLOW_TEMPORAL_ADDRESS"
}
