package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
)

// EnvPrefix is the prefix of every novaflow setting in the environment.
const EnvPrefix = "NOVAFLOW"

// Config is the runtime's settings, read from NOVAFLOW_* environment variables
// (and NOVAFLOW_CONFIG_FILE: LoadEnv) by LoadConfig; DefaultConfig has every
// default. docs/configuration.md lists them; a test keeps that table true.
type Config struct {
	Host                     string        `envconfig:"HOST" desc:"host name of this service; default: the machine's hostname"`
	TemporalAddress          string        `envconfig:"TEMPORAL_ADDRESS" default:"127.0.0.1:7233" desc:"host:port of the Temporal frontend"`
	TemporalNamespace        string        `envconfig:"TEMPORAL_NAMESPACE" default:"default" desc:"Temporal namespace of every workflow and schedule"`
	TemporalTLS              bool          `envconfig:"TEMPORAL_TLS" default:"false" desc:"connect to Temporal with TLS, the server checked against the system's CAs or NOVAFLOW_TEMPORAL_TLS_CA; implied by any other NOVAFLOW_TEMPORAL_TLS_* setting or an API key"`
	TemporalTLSCA            string        `envconfig:"TEMPORAL_TLS_CA" desc:"PEM file of the CA certificates that sign the Temporal frontend's certificate"`
	TemporalTLSCert          string        `envconfig:"TEMPORAL_TLS_CERT" desc:"PEM file of the client certificate for mutual TLS to Temporal (with NOVAFLOW_TEMPORAL_TLS_KEY); read again at each new connection, so a renewed one needs no restart"`
	TemporalTLSKey           string        `envconfig:"TEMPORAL_TLS_KEY" desc:"PEM file of the client certificate's private key"`
	TemporalTLSServerName    string        `envconfig:"TEMPORAL_TLS_SERVER_NAME" desc:"name the Temporal frontend's certificate must carry, when not the host of NOVAFLOW_TEMPORAL_ADDRESS"`
	TemporalAPIKey           string        `envconfig:"TEMPORAL_API_KEY" secret:"true" desc:"API key sent to Temporal (Temporal Cloud); implies TLS"`
	TemporalAPIKeyFile       string        `envconfig:"TEMPORAL_API_KEY_FILE" desc:"file holding the API key sent to Temporal (a mounted secret), instead of NOVAFLOW_TEMPORAL_API_KEY; read again at each call, so a rotated key needs no restart"`
	TemporalGRPCCompression  string        `envconfig:"TEMPORAL_GRPC_COMPRESSION" default:"gzip" desc:"compression of requests to Temporal: gzip (the SDK's default; fewer bytes, for a WAN or Temporal Cloud) or none (less CPU and ~0.7 ms less per call, for a frontend in the same network; novaflow dev uses it)"`
	DatabaseURL              string        `envconfig:"DATABASE_URL" desc:"PostgreSQL URL (postgres://user:pass@host:port/db?sslmode=verify-full); DATABASE_URL is read when this is unset"`
	DatabaseURLFile          string        `envconfig:"DATABASE_URL_FILE" desc:"file holding the PostgreSQL URL (a mounted secret), instead of NOVAFLOW_DATABASE_URL"`
	MigrateOnStart           bool          `envconfig:"MIGRATE_ON_START" default:"true" desc:"apply pending database migrations at service start (under an advisory lock); false: only check that the schema is current"`
	ReportInterval           time.Duration `envconfig:"REPORT_INTERVAL" default:"10s" desc:"interval of the status report of the service's topic, which sees its services alive by their worker heartbeats; 0 leaves the topic's report schedule to the other services (mutable)"`
	ServiceDownTime          time.Duration `envconfig:"SERVICE_DOWN_TIME" default:"25s" desc:"a service not seen alive for this long is down; raised to 2.5 x report_interval when lower (mutable)"`
	PeriodicEnable           bool          `envconfig:"PERIODIC_ENABLE" default:"true" desc:"run the manager's periodic tasks on this host (mutable)"`
	PeriodicFuzzyDelay       time.Duration `envconfig:"PERIODIC_FUZZY_DELAY" default:"60s" desc:"the hosts of a topic spread each periodic run over min(this, spacing / 2), each at a fixed point; run_immediately tasks wait a random part of it at start (mutable)"`
	PeriodicIntervalMax      time.Duration `envconfig:"PERIODIC_INTERVAL_MAX" default:"0s" desc:"accepted for nova compatibility; no effect: it caps how long oslo.service's loop sleeps, never a task's spacing (mutable)"`
	RunExternalPeriodicTasks bool          `envconfig:"RUN_EXTERNAL_PERIODIC_TASKS" default:"true" desc:"run the periodic tasks marked external_process_ok on this host (mutable)"`
	GracefulShutdownTimeout  time.Duration `envconfig:"GRACEFUL_SHUTDOWN_TIMEOUT" default:"60s" desc:"on SIGTERM, how long the stop may take: in-flight activities finish within it (then they are cancelled), and the manager's CleanupHost gets what is left, at least 5 s"`
	RPCResponseTimeout       time.Duration `envconfig:"RPC_RESPONSE_TIMEOUT" default:"60s" desc:"how long an RPC call waits for its result (mutable)"`
	CastTimeout              time.Duration `envconfig:"CAST_TIMEOUT" default:"1h" desc:"how long a cast waits for its target service to come up before it fails visibly (mutable)"`
	HealthAddress            string        `envconfig:"HEALTH_ADDRESS" desc:"address of the /healthz, /readyz and /metrics endpoints, e.g. :8080; empty = not served"`
	LogFormat                string        `envconfig:"LOG_FORMAT" default:"text" desc:"log format: text or json"`
	LogLevel                 string        `envconfig:"LOG_LEVEL" default:"info" desc:"log level: debug, info, warn or error (mutable)"`
	ConfigFile               string        `envconfig:"CONFIG_FILE" desc:"file of NOVAFLOW_*=value lines read at start and again on SIGHUP; its values override the environment"`
	BuildID                  string        `envconfig:"BUILD_ID" desc:"build ID of this binary: its version in its Temporal Worker Deployment (named after the binary, e.g. novaflow-compute), and the build its services record in the services table (service list's BUILD) whatever NOVAFLOW_VERSIONING says; default: the VCS revision the binary was built from, when its tree was clean; none: workers are unversioned (docs/upgrades.md)"`
	RemoveOnStop             bool          `envconfig:"REMOVE_ON_STOP" default:"false" desc:"on a graceful stop (SIGTERM), delete this service's row (as novaflow service delete), for replicas whose host name dies with them (Kubernetes pod names, compose container IDs), so that a rollout leaves no down rows behind; only for a stateless topic (conductor, scheduler): a service of another topic refuses it. A crashed or SIGKILLed service still shows down"`
	Versioning               string        `envconfig:"VERSIONING" default:"auto" desc:"Worker Deployment versioning when there is a build ID: auto (a service makes its build the deployment's current version at start when it is the newest one), manual (the operator sets the current version) or off (unversioned workers)"`

	// Payload encryption (package codec, docs/security.md).
	PayloadKeysFile      string `envconfig:"PAYLOAD_KEYS_FILE" desc:"key ring file ({\"current\": id, \"keys\": {id: base64 of 32 bytes}}) of the payload codec: every payload sent to Temporal (requests, results, memos, headers, failure messages) is encrypted with AES-256-GCM under the current key, and any key of the ring decrypts; empty = payloads in plain text. Every process of a namespace needs the same ring; the file is read again when it changes, so a rotation needs no restart (docs/security.md)"`
	CodecServerAddress   string `envconfig:"CODEC_SERVER_ADDRESS" default:"127.0.0.1:8081" desc:"address novaflow codec-server listens on"`
	CodecServerTokenFile string `envconfig:"CODEC_SERVER_TOKEN_FILE" desc:"file holding the bearer token novaflow codec-server requires of every request (a mounted secret); required by codec-server unless NOVAFLOW_AUTH is on (then it accepts the tokens of its issuer too)"`
	CodecServerOrigins   string `envconfig:"CODEC_SERVER_ORIGINS" default:"http://localhost:8233" desc:"browser origins (comma-separated scheme://host:port, or *) that may call novaflow codec-server: the Temporal Web UI's"`

	// temporal is what Temporal's own client configuration (a profile,
	// TEMPORAL_*) gave beyond the fields above; nil when LoadConfig did
	// not run (temporalprofile.go).
	temporal *temporalExtras

	// Authorization (docs/security.md, packages auth and policy).
	Auth             bool   `envconfig:"AUTH" default:"false" desc:"check every call a service runs against the authorization policy, with the caller's token (an OIDC-style JWT); off: any caller that can reach the namespace may call every method; in the environment of novaflow-temporal-server, with the same NOVAFLOW_AUTH_* settings and NOVAFLOW_PAYLOAD_KEYS_FILE, it turns the server's gate on (docs/security.md)"`
	AuthJWKS         string `envconfig:"AUTH_JWKS" desc:"the token issuer's keys: a JWKS file (read again when it changes), or an https:// URL (an OIDC provider's jwks_uri: fetched at start, a failure stops the service; again every 5 minutes); http:// is refused; required with NOVAFLOW_AUTH"`
	AuthIssuer       string `envconfig:"AUTH_ISSUER" desc:"the iss a token must carry; required with NOVAFLOW_AUTH"`
	AuthAudience     string `envconfig:"AUTH_AUDIENCE" default:"novaflow" desc:"the aud a token must carry"`
	AuthPolicyFile   string `envconfig:"AUTH_POLICY_FILE" desc:"YAML or JSON file of policy rules (\"compute:reboot_instance\": \"rule:project_member\"), over the defaults; empty: the defaults"`
	AuthUserClaim    string `envconfig:"AUTH_USER_CLAIM" default:"sub" desc:"claim of a token that names the user; a dotted name reaches into an object"`
	AuthProjectClaim string `envconfig:"AUTH_PROJECT_CLAIM" default:"project_id" desc:"claim of a token that names its project"`
	AuthRolesClaim   string `envconfig:"AUTH_ROLES_CLAIM" default:"roles" desc:"claim of a token that lists its roles (an array, or a space-separated string; realm_access.roles for Keycloak)"`
	Token            string `envconfig:"TOKEN" secret:"true" desc:"token (a JWT) presented by the calls this process makes with no caller's token of their own: a command's user, a service's own identity (role service)"`
	TokenFile        string `envconfig:"TOKEN_FILE" desc:"file holding that token, instead of NOVAFLOW_TOKEN; read again at each call, so a renewed token needs no restart"`

	// AuthMaxCallAge bounds how long a call runs as its caller after the
	// caller's token expired (docs/security.md, auth.Verifier.VerifyEntered).
	AuthMaxCallAge time.Duration `envconfig:"AUTH_MAX_CALL_AGE" default:"24h" desc:"how long after it entered a call goes on as its caller once the caller's token has expired: the token is judged when the call entered (the start of the workflow the caller started, as the server recorded it), and the later steps of that workflow (its activities, child workflows and the calls made in its code) still run until this age; 0: a token must be unexpired at every step"`
}

// ConfigError is a setting with a bad value; Setting is its variable name.
type ConfigError struct {
	Setting string
	Err     error
}

func (e *ConfigError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// DefaultConfig returns Config with every default: the values of its
// default tags, which LoadConfig applies to unset variables and
// docs/configuration.md lists (tests keep the three equal). Host is empty:
// LoadConfig makes it the machine's hostname. A test or tool starts from
// it and sets only what it needs.
func DefaultConfig() Config {
	return Config{
		TemporalAddress:          "127.0.0.1:7233",
		TemporalNamespace:        "default",
		TemporalGRPCCompression:  "gzip",
		MigrateOnStart:           true,
		ReportInterval:           10 * time.Second,
		ServiceDownTime:          servicegroup.DefaultServiceDownTime,
		PeriodicEnable:           true,
		PeriodicFuzzyDelay:       60 * time.Second,
		RunExternalPeriodicTasks: true,
		GracefulShutdownTimeout:  60 * time.Second,
		RPCResponseTimeout:       rpc.DefaultResponseTimeout,
		CastTimeout:              rpc.DefaultCastTimeout,
		LogFormat:                "text",
		LogLevel:                 "info",
		Versioning:               VersioningAuto,
		CodecServerAddress:       "127.0.0.1:8081",
		CodecServerOrigins:       "http://localhost:8233",
		AuthAudience:             "novaflow",
		AuthUserClaim:            "sub",
		AuthProjectClaim:         "project_id",
		AuthRolesClaim:           "roles",
		AuthMaxCallAge:           24 * time.Hour,
	}
}

// LoadConfig reads Config from env (LoadEnv: the process's environment and
// NOVAFLOW_CONFIG_FILE) and validates it. The Temporal client settings that
// no NOVAFLOW_TEMPORAL_* variable sets come from Temporal's own
// configuration, the `temporal` CLI's: TEMPORAL_* variables over a profile
// of its TOML file (temporalprofile.go). A bad value is a *ConfigError
// naming the variable.
func LoadConfig(env Env) (Config, error) {
	var c Config
	if err := env.Decode(&c); err != nil {
		return Config{}, err
	}
	if err := readSecretFile("TEMPORAL_API_KEY", c.TemporalAPIKeyFile, &c.TemporalAPIKey); err != nil {
		return Config{}, err
	}
	if err := c.applyTemporalProfile(env); err != nil {
		return Config{}, err
	}
	if err := readSecretFile("TOKEN", c.TokenFile, &c.Token); err != nil {
		return Config{}, err
	}
	if err := readSecretFile("DATABASE_URL", c.DatabaseURLFile, &c.DatabaseURL); err != nil {
		return Config{}, err
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = env.Get("DATABASE_URL")
	}
	if _, err := c.PayloadCodec(nil); err != nil {
		return Config{}, err
	}
	if c.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return Config{}, &ConfigError{Setting: "NOVAFLOW_HOST", Err: fmt.Errorf("unset and the hostname is unknown: %w", err)}
		}
		c.Host = h
	}
	return c, c.Validate()
}

// Validate checks values that parse but make no sense.
func (c Config) Validate() error {
	nonNegative := []struct {
		name string
		d    time.Duration
	}{
		{"REPORT_INTERVAL", c.ReportInterval},
		{"SERVICE_DOWN_TIME", c.ServiceDownTime},
		{"PERIODIC_FUZZY_DELAY", c.PeriodicFuzzyDelay},
		{"PERIODIC_INTERVAL_MAX", c.PeriodicIntervalMax},
		{"GRACEFUL_SHUTDOWN_TIMEOUT", c.GracefulShutdownTimeout},
	}
	for _, s := range nonNegative {
		if s.d < 0 {
			return &ConfigError{Setting: EnvPrefix + "_" + s.name, Err: fmt.Errorf("must not be negative, got %s", s.d)}
		}
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"RPC_RESPONSE_TIMEOUT", c.RPCResponseTimeout},
		{"CAST_TIMEOUT", c.CastTimeout},
	}
	for _, s := range positive {
		if s.d <= 0 {
			return &ConfigError{Setting: EnvPrefix + "_" + s.name, Err: fmt.Errorf("must be positive, got %s", s.d)}
		}
	}
	if !rpc.ValidHost(c.Host) {
		return &ConfigError{Setting: "NOVAFLOW_HOST", Err: fmt.Errorf("%q: want letters, digits, '-', '_' and '.', at most 200", c.Host)}
	}
	if c.TemporalAddress == "" {
		return &ConfigError{Setting: c.setting("NOVAFLOW_TEMPORAL_ADDRESS"), Err: errors.New("must not be empty")}
	}
	if c.TemporalNamespace == "" {
		return &ConfigError{Setting: c.setting("NOVAFLOW_TEMPORAL_NAMESPACE"), Err: errors.New("must not be empty")}
	}
	if c.TemporalTLSServerName != "" && !validServerName(c.TemporalTLSServerName) {
		return &ConfigError{Setting: c.setting("NOVAFLOW_TEMPORAL_TLS_SERVER_NAME"), Err: fmt.Errorf("%q is not a DNS name", c.TemporalTLSServerName)}
	}
	for _, r := range c.TemporalAPIKey {
		if r <= ' ' || r > '~' { // sent in a gRPC header: visible ASCII only
			return &ConfigError{Setting: c.setting("NOVAFLOW_TEMPORAL_API_KEY"), Err: errors.New("holds a character other than visible ASCII (a newline at the end of its file?)")}
		}
	}
	switch c.TemporalGRPCCompression {
	case "", "gzip", "none": // "": gzip
	default:
		return &ConfigError{Setting: "NOVAFLOW_TEMPORAL_GRPC_COMPRESSION", Err: fmt.Errorf("%q: want gzip or none", c.TemporalGRPCCompression)}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return &ConfigError{Setting: "NOVAFLOW_LOG_FORMAT", Err: fmt.Errorf("%q: want text or json", c.LogFormat)}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return &ConfigError{Setting: "NOVAFLOW_LOG_LEVEL", Err: err}
	}
	switch c.Versioning {
	case "", VersioningAuto, VersioningManual, VersioningOff: // "": auto
	default:
		return &ConfigError{Setting: "NOVAFLOW_VERSIONING", Err: fmt.Errorf("%q: want auto, manual or off", c.Versioning)}
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if len(c.BuildID) > 255 {
		return &ConfigError{Setting: "NOVAFLOW_BUILD_ID", Err: fmt.Errorf("%d bytes: want at most 255", len(c.BuildID))}
	}
	return nil
}

// workerHeartbeatInterval is how often the Temporal SDK sends the worker
// heartbeats that status reports read: a quarter of the report interval,
// within the SDK's 1 s to 60 s, so that a live service's last_seen_up is at
// most 1.25 report intervals old when a report has written it.
func (c Config) workerHeartbeatInterval() time.Duration {
	if c.ReportInterval <= 0 {
		return 0 // the SDK's default, 60 s
	}
	return min(max(c.ReportInterval/4, time.Second), time.Minute)
}

// DownTime is the effective service_down_time (servicegroup.DownTime).
func (c Config) DownTime() time.Duration {
	return servicegroup.DownTime(c.ServiceDownTime, c.ReportInterval)
}

// validServerName reports whether name can be a TLS server name: a DNS name
// of letters, digits, '-' and '.' (or an IP address), at most 253 bytes.
func validServerName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == ':', r == '*':
		default:
			return false
		}
	}
	return true
}

// readSecretFile reads the value of setting NOVAFLOW_<name> from file, when
// file (NOVAFLOW_<name>_FILE) is set: the file's content without its
// trailing line break, as Kubernetes and Docker mount secrets. Setting both
// is an error, so that it is clear which one is used. Errors name
// NOVAFLOW_<name>_FILE and never hold the content.
func readSecretFile(name, file string, value *string) error {
	if file == "" {
		return nil
	}
	setting := EnvPrefix + "_" + name + "_FILE"
	if *value != "" {
		return &ConfigError{Setting: setting, Err: fmt.Errorf("set only one of %s and %s", setting, EnvPrefix+"_"+name)}
	}
	f, err := os.Open(file)
	if err != nil {
		return &ConfigError{Setting: setting, Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return &ConfigError{Setting: setting, Err: err}
	case len(b) > maxSecretFile:
		return &ConfigError{Setting: setting, Err: fmt.Errorf("%s is larger than %d bytes", file, maxSecretFile)}
	}
	*value = strings.TrimRight(string(b), "\r\n")
	switch {
	case *value == "":
		return &ConfigError{Setting: setting, Err: fmt.Errorf("%s is empty", file)}
	case strings.ContainsAny(*value, "\x00\r\n"):
		return &ConfigError{Setting: setting, Err: fmt.Errorf("%s holds more than one line", file)}
	}
	return nil
}

// maxSecretFile bounds the size of a secret's file.
const maxSecretFile = 64 << 10

// parseConfigFile parses the content of NOVAFLOW_CONFIG_FILE (read from r,
// named path in errors) into NOVAFLOW_* variables and their values, in
// order. A line that is not a comment, blank, or NOVAFLOW_NAME=value is a
// *ConfigError naming NOVAFLOW_CONFIG_FILE and the line.
func parseConfigFile(r io.Reader, path string) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		key = strings.TrimSpace(key)
		if !ok || !strings.HasPrefix(key, EnvPrefix+"_") || !validEnvName(key) {
			return nil, &ConfigError{Setting: "NOVAFLOW_CONFIG_FILE", Err: fmt.Errorf("%s:%d: want NOVAFLOW_NAME=value", path, n)}
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		if strings.IndexByte(value, 0) >= 0 {
			return nil, &ConfigError{Setting: "NOVAFLOW_CONFIG_FILE", Err: fmt.Errorf("%s:%d: the value holds a NUL byte", path, n)}
		}
		out = append(out, [2]string{key, value})
	}
	if err := sc.Err(); err != nil {
		return nil, &ConfigError{Setting: "NOVAFLOW_CONFIG_FILE", Err: fmt.Errorf("%s: %w", path, err)}
	}
	return out, nil
}

// validEnvName reports whether name is an environment variable name:
// letters, digits and '_'.
func validEnvName(name string) bool {
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return name != ""
}

// validateAuth checks the authorization settings: with NOVAFLOW_AUTH on, a
// key set and an issuer; a token of visible ASCII (it is sent as a header);
// a maximum call age of 0 or more.
func (c Config) validateAuth() error {
	for _, r := range c.Token {
		if r <= ' ' || r > '~' {
			return &ConfigError{Setting: "NOVAFLOW_TOKEN", Err: errors.New("holds a character other than visible ASCII (a newline at the end of its file?)")}
		}
	}
	if c.AuthMaxCallAge < 0 {
		return &ConfigError{Setting: "NOVAFLOW_AUTH_MAX_CALL_AGE", Err: fmt.Errorf("%s: want 0 (a token must be unexpired at every step of a call) or a positive duration (24h)", c.AuthMaxCallAge)}
	}
	if !c.Auth {
		return nil
	}
	switch {
	case c.AuthJWKS == "":
		return &ConfigError{Setting: "NOVAFLOW_AUTH_JWKS", Err: errors.New("required with NOVAFLOW_AUTH=true: the token issuer's JWKS (a file or an https:// URL)")}
	case auth.IsHTTPURL(c.AuthJWKS):
		return &ConfigError{Setting: "NOVAFLOW_AUTH_JWKS", Err: errors.New("an http:// URL is refused: a key set fetched in plain text can be swapped by anyone on the path, who can then forge any token; use an https:// URL or a file")}
	case c.AuthIssuer == "":
		return &ConfigError{Setting: "NOVAFLOW_AUTH_ISSUER", Err: errors.New("required with NOVAFLOW_AUTH=true: the iss of the tokens to accept")}
	case c.AuthAudience == "":
		return &ConfigError{Setting: "NOVAFLOW_AUTH_AUDIENCE", Err: errors.New("must not be empty with NOVAFLOW_AUTH=true")}
	}
	for _, s := range []struct{ name, value string }{
		{"NOVAFLOW_AUTH_USER_CLAIM", c.AuthUserClaim},
		{"NOVAFLOW_AUTH_PROJECT_CLAIM", c.AuthProjectClaim},
		{"NOVAFLOW_AUTH_ROLES_CLAIM", c.AuthRolesClaim},
	} {
		if s.value == "" {
			continue // the default
		}
		for _, part := range strings.Split(s.value, ".") {
			if part == "" || strings.ContainsFunc(part, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return &ConfigError{Setting: s.name, Err: fmt.Errorf("%q: want a claim name, or names joined by dots (realm_access.roles)", s.value)}
			}
		}
	}
	return nil
}
