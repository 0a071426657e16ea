package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/testenv"
)

// writeProfiles writes a Temporal client configuration file, as the
// `temporal` CLI reads it (`temporal config set` writes it), in dir.
func writeProfiles(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTemporalProfileParsing(t *testing.T) {
	dir := t.TempDir()
	file := writeProfiles(t, dir, `
[profile.default]
address = "default.example:7233"
namespace = "dflt"

[profile.prod]
address = "prod.example:7233"
namespace = "novaflow-prod"
api_key = "prod-key"

[profile.prod.tls]
server_name = "frontend.prod.example"

[profile.prod.grpc_meta]
x-tenant = "blue"
`)
	base := Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": file}

	cfg, err := LoadConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddress != "default.example:7233" || cfg.TemporalNamespace != "dflt" || cfg.TemporalTLS || cfg.TemporalAPIKey != "" {
		t.Errorf("profile default: %q %q tls=%v key=%q", cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalTLS, cfg.TemporalAPIKey)
	}
	if got := cfg.TemporalAddressSource(); !strings.Contains(got, `address of profile "default" in `+file) {
		t.Errorf("source of the address: %q", got)
	}

	cfg, err = LoadConfig(base.With("TEMPORAL_PROFILE=prod"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddress != "prod.example:7233" || cfg.TemporalNamespace != "novaflow-prod" || cfg.TemporalAPIKey != "prod-key" ||
		!cfg.TemporalTLS || cfg.TemporalTLSServerName != "frontend.prod.example" {
		t.Errorf("profile prod: %+v", cfg)
	}
	conn, creds, err := cfg.temporalConnection()
	if err != nil || conn.TLS == nil || conn.TLS.ServerName != "frontend.prod.example" || creds == nil {
		t.Errorf("profile prod connection: %+v %v %v", conn.TLS, creds, err)
	}
	h, _ := cfg.temporalHeaders().GetHeaders(context.Background())
	if h["x-tenant"] != "blue" {
		t.Errorf("gRPC metadata of the profile: %v", h)
	}

	// A named profile that is absent, a file that does not parse: the
	// setting is named.
	_, err = LoadConfig(base.With("TEMPORAL_PROFILE=staging"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting != "TEMPORAL_PROFILE" || !strings.Contains(err.Error(), `"staging"`) {
		t.Errorf("absent profile: %v", err)
	}
	bad := writeProfiles(t, t.TempDir(), "[profile.default\naddress = 1\n")
	if _, err := LoadConfig(base.With("TEMPORAL_CONFIG_FILE=" + bad)); !errors.As(err, &ce) || ce.Setting != "TEMPORAL_CONFIG_FILE" {
		t.Errorf("bad file: %v", err)
	}
	// No file at all: the defaults, and no error (as the CLI).
	cfg, err = LoadConfig(Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": filepath.Join(dir, "none.toml")})
	if err != nil || cfg.TemporalAddress != "127.0.0.1:7233" || cfg.TemporalNamespace != "default" {
		t.Errorf("no file: %q %q %v", cfg.TemporalAddress, cfg.TemporalNamespace, err)
	}
	// A profile named without any file is an error too.
	if _, err := LoadConfig(Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_PROFILE": "prod", "TEMPORAL_CONFIG_FILE": filepath.Join(dir, "none.toml")}); !errors.As(err, &ce) || ce.Setting != "TEMPORAL_PROFILE" {
		t.Errorf("profile of a missing file: %v", err)
	}
	// The profile's address being bad is named by where it came from.
	empty := writeProfiles(t, t.TempDir(), "[profile.default]\nnamespace = \"bad name\"\ntls = { server_name = \"not a name\" }\n")
	if _, err := LoadConfig(base.With("TEMPORAL_CONFIG_FILE=" + empty)); !errors.As(err, &ce) || !strings.Contains(ce.Setting, "tls.server_name of profile") {
		t.Errorf("bad server name of a profile: %v", err)
	}
}

// The file the `temporal` CLI reads when TEMPORAL_CONFIG_FILE is unset:
// temporalio/temporal.toml in the user's configuration folder, found from
// the environment passed down.
func TestTemporalProfileDefaultFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the configuration folder is $XDG_CONFIG_HOME or ~/.config on Linux")
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".config", "temporalio"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeProfiles(t, filepath.Join(home, ".config", "temporalio"), "[profile.default]\naddress = \"home.example:7233\"\n")
	if got := TemporalConfigFile(Env{"HOME": home}); got != filepath.Join(home, ".config", "temporalio", "temporal.toml") {
		t.Errorf("default file: %q", got)
	}
	cfg, err := LoadConfig(Env{"NOVAFLOW_HOST": "h1", "HOME": home})
	if err != nil || cfg.TemporalAddress != "home.example:7233" {
		t.Errorf("from the default file: %q %v", cfg.TemporalAddress, err)
	}
	xdg := t.TempDir()
	if got := TemporalConfigFile(Env{"HOME": home, "XDG_CONFIG_HOME": xdg}); got != filepath.Join(xdg, "temporalio", "temporal.toml") {
		t.Errorf("XDG_CONFIG_HOME: %q", got)
	}
}

// Precedence, lowest first: defaults, the profile, TEMPORAL_* variables,
// NOVAFLOW_TEMPORAL_* (cmd's flags are NOVAFLOW_TEMPORAL_* set over the
// environment: cmd/novaflow tests them).
func TestTemporalSettingsPrecedence(t *testing.T) {
	file := writeProfiles(t, t.TempDir(), `
[profile.default]
address = "profile.example:7233"
namespace = "profile-ns"
api_key = "profile-key"
`)
	cases := []struct {
		name             string
		env              Env
		address, ns, key string
		addressSource    string
	}{
		{"defaults", Env{"TEMPORAL_CONFIG_FILE": os.DevNull}, "127.0.0.1:7233", "default", "", "NOVAFLOW_TEMPORAL_ADDRESS"},
		{"profile", Env{"TEMPORAL_CONFIG_FILE": file}, "profile.example:7233", "profile-ns", "profile-key", `address of profile "default"`},
		{"TEMPORAL_* over the profile", Env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_API_KEY": "env-key"},
			"env.example:7233", "profile-ns", "env-key", "TEMPORAL_ADDRESS"},
		{"NOVAFLOW_TEMPORAL_* over all", Env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "env-ns",
			"NOVAFLOW_TEMPORAL_ADDRESS": "nf.example:7233", "NOVAFLOW_TEMPORAL_NAMESPACE": "nf-ns", "NOVAFLOW_TEMPORAL_API_KEY": "nf-key"},
			"nf.example:7233", "nf-ns", "nf-key", "NOVAFLOW_TEMPORAL_ADDRESS"},
		{"an empty NOVAFLOW_TEMPORAL_* is unset", Env{"TEMPORAL_CONFIG_FILE": file, "NOVAFLOW_TEMPORAL_ADDRESS": ""},
			"profile.example:7233", "profile-ns", "profile-key", `address of profile "default"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadConfig(c.env.With("NOVAFLOW_HOST=h1"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TemporalAddress != c.address || cfg.TemporalNamespace != c.ns || cfg.TemporalAPIKey != c.key {
				t.Errorf("got %q %q %q, want %q %q %q", cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalAPIKey, c.address, c.ns, c.key)
			}
			if got := cfg.TemporalAddressSource(); !strings.HasPrefix(got, c.addressSource) {
				t.Errorf("address from %q, want %q", got, c.addressSource)
			}
		})
	}
	// An API key file of novaflow's wins over Temporal's key.
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": file, "TEMPORAL_API_KEY": "env-key", "NOVAFLOW_TEMPORAL_API_KEY_FILE": keyFile})
	if err != nil || cfg.TemporalAPIKey != "file-key" {
		t.Errorf("API key file over TEMPORAL_API_KEY: %q %v", cfg.TemporalAPIKey, err)
	}
}

// TLS from a profile, from TEMPORAL_TLS_* and from NOVAFLOW_TEMPORAL_TLS_*:
// the client's configuration trusts the CA, names the server and presents
// the client certificate; a handshake with a server that requires it
// succeeds.
func TestTemporalProfileTLS(t *testing.T) {
	dir := t.TempDir()
	pki := testenv.NewPKI(t, dir, "temporal.test")
	caPEM, _ := os.ReadFile(pki.CAFile)
	certPEM, _ := os.ReadFile(pki.ClientCert)
	keyPEM, _ := os.ReadFile(pki.ClientKey)
	file := writeProfiles(t, dir, `
[profile.files.tls]
server_ca_cert_path = "`+pki.CAFile+`"
client_cert_path = "`+pki.ClientCert+`"
client_key_path = "`+pki.ClientKey+`"
server_name = "temporal.test"

[profile.data.tls]
server_ca_cert_data = """`+string(caPEM)+`"""
client_cert_data = """`+string(certPEM)+`"""
client_key_data = """`+string(keyPEM)+`"""
server_name = "temporal.test"

[profile.off]
api_key = "k"
tls = { disabled = true }
`)
	base := Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": file}
	cases := []struct {
		name string
		env  Env
	}{
		{"profile with files", base.With("TEMPORAL_PROFILE=files")},
		{"profile with data", base.With("TEMPORAL_PROFILE=data")},
		{"TEMPORAL_TLS_* variables", base.With("TEMPORAL_TLS_SERVER_CA_CERT_PATH="+pki.CAFile, "TEMPORAL_TLS_CLIENT_CERT_PATH="+pki.ClientCert,
			"TEMPORAL_TLS_CLIENT_KEY_PATH="+pki.ClientKey, "TEMPORAL_TLS_SERVER_NAME=temporal.test")},
		{"legacy TEMPORAL_TLS_CA, _CERT, _KEY", base.With("TEMPORAL_TLS_CA="+pki.CAFile, "TEMPORAL_TLS_CERT="+pki.ClientCert,
			"TEMPORAL_TLS_KEY="+pki.ClientKey, "TEMPORAL_TLS_SERVER_NAME=temporal.test")},
		{"NOVAFLOW_TEMPORAL_TLS_* over a profile", base.With("TEMPORAL_PROFILE=off", "NOVAFLOW_TEMPORAL_TLS_CA="+pki.CAFile,
			"NOVAFLOW_TEMPORAL_TLS_CERT="+pki.ClientCert, "NOVAFLOW_TEMPORAL_TLS_KEY="+pki.ClientKey, "NOVAFLOW_TEMPORAL_TLS_SERVER_NAME=temporal.test")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadConfig(c.env)
			if err != nil {
				t.Fatal(err)
			}
			conn, _, err := cfg.temporalConnection()
			if err != nil {
				t.Fatal(err)
			}
			if conn.TLS == nil || conn.TLS.ServerName != "temporal.test" || conn.TLS.RootCAs == nil || conn.TLS.GetClientCertificate == nil {
				t.Fatalf("TLS: %+v", conn.TLS)
			}
			cert, err := conn.TLS.GetClientCertificate(nil)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil || leaf.Subject.CommonName != pki.ClientName {
				t.Errorf("client certificate: %v %v", leaf.Subject, err)
			}
			handshake(t, pki, conn.TLS)
		})
	}

	// tls.disabled: an API key without TLS (a proxy of the user's), as the
	// temporal CLI does it.
	cfg, err := LoadConfig(base.With("TEMPORAL_PROFILE=off"))
	if err != nil {
		t.Fatal(err)
	}
	if conn, creds, err := cfg.temporalConnection(); err != nil || conn.TLS != nil || creds == nil {
		t.Errorf("tls disabled: %+v %v %v", conn.TLS, creds, err)
	}

	// A certificate given both as a file and as data, a CA that is no PEM:
	// the setting that gave it is named.
	var ce *ConfigError
	_, err = LoadConfig(base.With("TEMPORAL_PROFILE=data", "TEMPORAL_TLS_CLIENT_CERT_PATH="+pki.ClientCert))
	if !errors.As(err, &ce) || ce.Setting != "TEMPORAL_TLS_CLIENT_CERT_PATH" {
		t.Errorf("a file and data: %v", err)
	}
	_, err = LoadConfig(base.With("TEMPORAL_TLS_SERVER_CA_CERT_DATA=not a certificate"))
	if !errors.As(err, &ce) || ce.Setting != "TEMPORAL_TLS_SERVER_CA_CERT_DATA" {
		t.Errorf("bad CA data: %v", err)
	}
	cfg, err = LoadConfig(base.With("TEMPORAL_TLS_CA=" + filepath.Join(dir, "missing.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cfg.temporalConnection(); !errors.As(err, &ce) || ce.Setting != "TEMPORAL_TLS_CA" {
		t.Errorf("missing CA file: %v", err)
	}
}

// handshake runs a TLS handshake of client (as the SDK's gRPC connection
// would) with a server of pki that requires a client certificate.
func handshake(t *testing.T, pki *testenv.PKI, client *tls.Config) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		serverErr <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	c.Close()
	if err := <-serverErr; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

// A SIGHUP reads Temporal's configuration again: the same profile is no
// change; a changed address is one that needs a restart, and says so.
func TestReloadComparesTemporalProfile(t *testing.T) {
	dir := t.TempDir()
	file := writeProfiles(t, dir, "[profile.default]\naddress = \"a.example:7233\"\n[profile.default.grpc_meta]\nx-tenant = \"blue\"\n")
	env := Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": file}
	load := func() Config {
		cfg, err := LoadConfig(env)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cur := load()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mergeMutable(cur, load(), logger)
	if logs.Len() != 0 {
		t.Errorf("the same profile read again: %s", logs.String())
	}
	writeProfiles(t, dir, "[profile.default]\naddress = \"b.example:7233\"\n[profile.default.grpc_meta]\nx-tenant = \"blue\"\n")
	if got := mergeMutable(cur, load(), logger); got.TemporalAddress != "a.example:7233" || !strings.Contains(logs.String(), "restart") {
		t.Errorf("a changed address: %q, logs %q", got.TemporalAddress, logs.String())
	}
}

// FuzzTemporalProfile reads a Temporal client configuration file of any
// content: LoadConfig and the connection's options never panic, and fail
// only with a *ConfigError naming a setting (TEMPORAL_CONFIG_FILE, or the
// variable or profile key of the bad value).
func FuzzTemporalProfile(f *testing.F) {
	f.Add("[profile.default]\naddress = \"h:7233\"\nnamespace = \"n\"\napi_key = \"k\"\n")
	f.Add("[profile.default.tls]\nserver_ca_cert_data = \"not a pem\"\n")
	f.Add("[profile.default.tls]\nclient_cert_data = \"x\"\n")
	f.Add("[profile.default.tls]\nclient_cert_path = \"/nonexistent\"\nclient_key_path = \"/nonexistent\"\n")
	f.Add("[profile.default]\naddress = 7\n")
	f.Add("[profile.default.grpc_meta]\n\"bad key\" = \"\\n\"\n")
	f.Add("[[profile]]\n")
	f.Add("[profile.default]\nnamespace = \"\"\ntls = { disabled = true, server_name = \"a b\" }\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "temporal.toml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(Env{"NOVAFLOW_HOST": "h1", "TEMPORAL_CONFIG_FILE": path})
		var ce *ConfigError
		if err != nil {
			if !errors.As(err, &ce) || ce.Setting == "" {
				t.Fatalf("error %v is not a *ConfigError naming a setting", err)
			}
			return
		}
		if _, _, err := cfg.temporalConnection(); err != nil && (!errors.As(err, &ce) || ce.Setting == "") {
			t.Fatalf("connection error %v is not a *ConfigError naming a setting", err)
		}
	})
}
