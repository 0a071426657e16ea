package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// clientEnv clears every Temporal client setting of the test's environment
// (NOVAFLOW_TEMPORAL_*, TEMPORAL_*, the home folder's profile file) and
// works in a folder with no dev stack, so that the test sets what it means.
func clientEnv(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "NOVAFLOW_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
}

// writeTemporalProfiles writes a Temporal client configuration file (the
// `temporal` CLI's TOML) in a new folder.
func writeTemporalProfiles(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// effective runs `novaflow config` with args and returns the effective
// value of each setting.
func effective(t *testing.T, args ...string) map[string]string {
	t.Helper()
	code, out, errOut := run(t, append(args, "config")...)
	if code != 0 {
		t.Fatalf("novaflow %v config: exit %d: %s", args, code, errOut)
	}
	values := map[string]string{}
	table, _, _ := strings.Cut(out, "\n\n") // the table, not the sources under it
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[0], "NOVAFLOW_") {
			values[f[0]] = f[1]
		}
	}
	return values
}

// The precedence of the Temporal client settings, as `novaflow config`
// shows them: flags, then NOVAFLOW_TEMPORAL_*, then TEMPORAL_*, then the
// profile, then the defaults.
func TestClientSettingsPrecedence(t *testing.T) {
	clientEnv(t)
	file := writeTemporalProfiles(t, `
[profile.default]
address = "default.example:7233"
namespace = "default-ns"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
`)
	other := writeTemporalProfiles(t, "[profile.default]\naddress = \"other.example:7233\"\n")
	check := func(name string, wantAddress, wantNamespace string, args ...string) {
		t.Helper()
		v := effective(t, args...)
		if v["NOVAFLOW_TEMPORAL_ADDRESS"] != wantAddress || v["NOVAFLOW_TEMPORAL_NAMESPACE"] != wantNamespace {
			t.Errorf("%s: address %q namespace %q, want %q %q", name, v["NOVAFLOW_TEMPORAL_ADDRESS"], v["NOVAFLOW_TEMPORAL_NAMESPACE"], wantAddress, wantNamespace)
		}
	}
	check("nothing set", "127.0.0.1:7233", "default")
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	check("the default profile", "default.example:7233", "default-ns")
	check("--profile", "prod.example:7233", "prod-ns", "--profile", "prod")
	check("--config-file", "other.example:7233", "default", "--config-file", other)
	t.Setenv("TEMPORAL_PROFILE", "prod")
	check("TEMPORAL_PROFILE", "prod.example:7233", "prod-ns")
	t.Setenv("TEMPORAL_ADDRESS", "env.example:7233")
	check("TEMPORAL_ADDRESS over the profile", "env.example:7233", "prod-ns")
	if _, out, _ := run(t, "config"); !strings.Contains(out, "\nNOVAFLOW_TEMPORAL_ADDRESS from TEMPORAL_ADDRESS\n") ||
		!strings.Contains(out, "\nNOVAFLOW_TEMPORAL_NAMESPACE from namespace of profile \"prod\" in "+file+"\n") {
		t.Errorf("novaflow config does not say where the Temporal settings come from:\n%s", out)
	}
	t.Setenv("NOVAFLOW_TEMPORAL_ADDRESS", "nf.example:7233")
	t.Setenv("NOVAFLOW_TEMPORAL_NAMESPACE", "nf-ns")
	check("NOVAFLOW_TEMPORAL_* over TEMPORAL_*", "nf.example:7233", "nf-ns")
	check("flags over all", "flag.example:7233", "flag-ns", "--address", "flag.example:7233", "--namespace", "flag-ns")

	// A profile that is not there: one line naming it.
	code, _, errOut := run(t, "--profile", "staging", "config")
	if code != 1 || !strings.Contains(errOut, "TEMPORAL_PROFILE") || !strings.Contains(errOut, `"staging"`) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("absent profile: exit %d: %q", code, errOut)
	}
}

// A novaflow command reaches Temporal (the dev server) with only Temporal's
// own settings, no NOVAFLOW_TEMPORAL_*: TEMPORAL_ADDRESS and
// TEMPORAL_NAMESPACE; a profile chosen by TEMPORAL_PROFILE and
// TEMPORAL_CONFIG_FILE; the same by --profile and --config-file.
func TestCommandReachesTemporalWithTemporalSettings(t *testing.T) {
	srv := testenv.Temporal(t)
	clientEnv(t)

	ns := testenv.UniqueName(t, "envns")
	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	t.Setenv("TEMPORAL_NAMESPACE", ns)
	r := setupJSON(t, 0)
	if !r.OK || r.Address != srv.Address() || r.Namespace != ns || r.result("namespace") != worker.SetupCreated {
		t.Fatalf("setup from TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE: %+v", r)
	}
	os.Unsetenv("TEMPORAL_ADDRESS")
	os.Unsetenv("TEMPORAL_NAMESPACE")

	profNS := testenv.UniqueName(t, "profns")
	file := writeTemporalProfiles(t, `
[profile.default]
address = "127.0.0.1:1"

[profile.novaflow]
address = "`+srv.Address()+`"
namespace = "`+profNS+`"
`)
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_PROFILE", "novaflow")
	r = setupJSON(t, 0)
	if !r.OK || r.Address != srv.Address() || r.Namespace != profNS || r.result("namespace") != worker.SetupCreated {
		t.Fatalf("setup from a profile: %+v", r)
	}
	os.Unsetenv("TEMPORAL_CONFIG_FILE")
	os.Unsetenv("TEMPORAL_PROFILE")
	r = setupJSON(t, 0, "--check", "--config-file", file, "--profile", "novaflow")
	if !r.OK || r.Namespace != profNS || r.result("namespace") != worker.SetupOK {
		t.Fatalf("--check from --config-file and --profile: %+v", r)
	}
	// --address and --namespace over the profile.
	r = setupJSON(t, 0, "--check", "--config-file", file, "--address", srv.Address(), "--namespace", ns)
	if !r.OK || r.Namespace != ns {
		t.Fatalf("--address and --namespace over the default profile: %+v", r)
	}
}

// TLS and an API key through a profile: the dev server has no TLS, so a
// mutual-TLS proxy made for the test (a CA, a server and a client
// certificate from crypto/x509) stands in front of it and reads the
// requests' headers. A profile with the CA, the client certificate, the
// server name, an API key and gRPC metadata reaches Temporal through it,
// the key and the metadata on the wire; so do TEMPORAL_TLS_* and
// TEMPORAL_API_KEY; without the client certificate the proxy refuses the
// connection.
func TestCommandReachesTemporalThroughTLSProfile(t *testing.T) {
	srv := testenv.Temporal(t)
	clientEnv(t)
	pki := testenv.NewPKI(t, t.TempDir(), "temporal.test")
	px := pki.TLSProxy(t, srv.Address())
	proxy, accepted := px.Addr, px.Accepted
	file := writeTemporalProfiles(t, `
[profile.mtls]
address = "`+proxy+`"
namespace = "`+srv.Namespace()+`"
api_key = "profile-key"

[profile.mtls.grpc_meta]
x-tenant = "blue"

[profile.mtls.tls]
server_ca_cert_path = "`+pki.CAFile+`"
client_cert_path = "`+pki.ClientCert+`"
client_key_path = "`+pki.ClientKey+`"
server_name = "temporal.test"

[profile.nocert]
address = "`+proxy+`"
namespace = "`+srv.Namespace()+`"

[profile.nocert.tls]
server_ca_cert_path = "`+pki.CAFile+`"
server_name = "temporal.test"
`)
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	r := setupJSON(t, 0, "--check", "--profile", "mtls")
	if !r.OK || r.Address != proxy {
		t.Fatalf("setup --check through mutual TLS: %+v", r)
	}
	if accepted() == 0 {
		t.Fatal("the TLS proxy verified no client certificate")
	}
	if !slices.Contains(px.Header("authorization"), "Bearer profile-key") || !slices.Contains(px.Header("x-tenant"), "blue") {
		t.Errorf("the profile's API key and metadata did not reach the server: authorization %q, x-tenant %q", px.Header("authorization"), px.Header("x-tenant"))
	}
	// The same TLS by TEMPORAL_TLS_* variables, as the temporal CLI takes them.
	t.Setenv("TEMPORAL_ADDRESS", proxy)
	t.Setenv("TEMPORAL_NAMESPACE", srv.Namespace())
	t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", pki.CAFile)
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", pki.ClientCert)
	t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", pki.ClientKey)
	t.Setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.test")
	t.Setenv("TEMPORAL_API_KEY", "env-key")
	if r := setupJSON(t, 0, "--check"); !r.OK || r.Address != proxy {
		t.Fatalf("setup --check with TEMPORAL_TLS_*: %+v", r)
	}
	if !slices.Contains(px.Header("authorization"), "Bearer env-key") {
		t.Errorf("TEMPORAL_API_KEY did not reach the server: %q", px.Header("authorization"))
	}
	// NOVAFLOW_TEMPORAL_API_KEY_FILE over TEMPORAL_API_KEY.
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOVAFLOW_TEMPORAL_API_KEY_FILE", keyFile)
	if r := setupJSON(t, 0, "--check"); !r.OK {
		t.Fatalf("setup --check with NOVAFLOW_TEMPORAL_API_KEY_FILE: %+v", r)
	}
	if !slices.Contains(px.Header("authorization"), "Bearer file-key") {
		t.Errorf("NOVAFLOW_TEMPORAL_API_KEY_FILE did not reach the server: %q", px.Header("authorization"))
	}
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY", "NOVAFLOW_TEMPORAL_API_KEY_FILE"} {
		os.Unsetenv(k)
	}
	before := accepted()
	code, _, errOut := run(t, "--profile", "nocert", "temporal", "setup", "--check")
	if code != 1 || !strings.Contains(errOut, "cannot reach Temporal") {
		t.Errorf("without a client certificate: exit %d: %s", code, errOut)
	}
	if accepted() != before {
		t.Error("the TLS proxy accepted a connection without a client certificate")
	}
}
