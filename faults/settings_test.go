//go:build linux

package faults

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// badSetting is a bad value of a setting and what else must be set for it
// to matter.
type badSetting struct {
	value string
	env   map[string]string
	// setup, when set, adds to the environment what needs files (a key
	// set, a key ring).
	setup func(t *testing.T, env map[string]string)
	// args, when set, is the command that reads the setting, instead of
	// the service of its topic.
	args []string
}

// authOn turns authorization on with a real key set, so that the setting
// under test is the one that fails.
func authOn(t *testing.T, env map[string]string) {
	_, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env["NOVAFLOW_AUTH"], env["NOVAFLOW_AUTH_JWKS"], env["NOVAFLOW_AUTH_ISSUER"] = "true", jwks, "faults"
}

// codecServer gives novaflow codec-server what it needs to start: a key
// ring and a token file.
func codecServer(t *testing.T, env map[string]string) {
	dir := t.TempDir()
	ring, token := filepath.Join(dir, "keys.json"), filepath.Join(dir, "token")
	write(t, ring, `{"current": "k1", "keys": {"k1": "`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`"}}`)
	write(t, token, "a-token-of-thirty-two-characters\n")
	env["NOVAFLOW_PAYLOAD_KEYS_FILE"], env["NOVAFLOW_CODEC_SERVER_TOKEN_FILE"] = ring, token
	env["NOVAFLOW_CODEC_SERVER_ADDRESS"] = "127.0.0.1:0"
}

// badStrings are bad values of the string settings, which have no syntax
// to get wrong. A string setting missing here fails TestNovaflowBinary.
var badStrings = map[string]badSetting{
	"NOVAFLOW_HOST":                      {value: "bad host!"},
	"NOVAFLOW_TEMPORAL_ADDRESS":          {value: ""},
	"NOVAFLOW_TEMPORAL_NAMESPACE":        {value: "no-such-namespace"},
	"NOVAFLOW_TEMPORAL_TLS_CA":           {value: "/nonexistent/ca.pem"},
	"NOVAFLOW_TEMPORAL_TLS_CERT":         {value: "/nonexistent/cert.pem"},
	"NOVAFLOW_TEMPORAL_TLS_KEY":          {value: "/nonexistent/key.pem"},
	"NOVAFLOW_TEMPORAL_TLS_SERVER_NAME":  {value: "not a name"},
	"NOVAFLOW_TEMPORAL_API_KEY":          {value: "key with spaces"},
	"NOVAFLOW_TEMPORAL_API_KEY_FILE":     {value: "/nonexistent/api-key"},
	"NOVAFLOW_TEMPORAL_GRPC_COMPRESSION": {value: "zstd"},
	"NOVAFLOW_DATABASE_URL":              {value: "postgres://nobody@127.0.0.1:1/none"},
	"NOVAFLOW_DATABASE_URL_FILE":         {value: "/nonexistent/database-url"},
	"NOVAFLOW_HEALTH_ADDRESS":            {value: "not-an-address"},
	"NOVAFLOW_LOG_FORMAT":                {value: "xml"},
	"NOVAFLOW_LOG_LEVEL":                 {value: "loud"},
	"NOVAFLOW_CONFIG_FILE":               {value: "/nonexistent/novaflow.env"},
	"NOVAFLOW_BUILD_ID":                  {value: strings.Repeat("b", 300)},
	"NOVAFLOW_VERSIONING":                {value: "sometimes"},
	"NOVAFLOW_COMPUTE_DRIVER":            {value: "no-such-driver"},
	"NOVAFLOW_COMPUTE_STATE_DIR":         {value: "/dev/null/state", env: map[string]string{"NOVAFLOW_COMPUTE_DRIVER": "process"}},
	"NOVAFLOW_SCHEDULER_STRATEGY":        {value: "no-such-strategy"},
	"NOVAFLOW_VOLUME_DRIVER":             {value: "no-such-driver"},
	"NOVAFLOW_VOLUME_DATA_DIR":           {value: "/dev/null/data"},
	"NOVAFLOW_PAYLOAD_KEYS_FILE":         {value: "/nonexistent/keys.json"},
	"NOVAFLOW_CODEC_SERVER_ADDRESS":      {value: "not-an-address", setup: codecServer, args: []string{"codec-server"}},
	"NOVAFLOW_CODEC_SERVER_TOKEN_FILE":   {value: "/nonexistent/token", setup: codecServer, args: []string{"codec-server"}},
	"NOVAFLOW_CODEC_SERVER_ORIGINS":      {value: "ftp://ui.example", setup: codecServer, args: []string{"codec-server"}},
	"NOVAFLOW_AUTH_JWKS":                 {value: "http://keys.example/jwks.json", setup: authOn},
	"NOVAFLOW_AUTH_ISSUER":               {value: "", setup: authOn},
	"NOVAFLOW_AUTH_AUDIENCE":             {value: "", setup: authOn},
	"NOVAFLOW_AUTH_POLICY_FILE":          {value: "/nonexistent/policy.yaml", setup: authOn},
	"NOVAFLOW_AUTH_USER_CLAIM":           {value: "a..b", setup: authOn},
	"NOVAFLOW_AUTH_PROJECT_CLAIM":        {value: "project id", setup: authOn},
	"NOVAFLOW_AUTH_ROLES_CLAIM":          {value: "realm_access.", setup: authOn},
	"NOVAFLOW_TOKEN":                     {value: "token with spaces"},
	"NOVAFLOW_TOKEN_FILE":                {value: "/nonexistent/token"},
}

// badByKind are bad values of settings that parse.
var badByKind = map[reflect.Kind]string{
	reflect.Bool:  "maybe",
	reflect.Int:   "many",
	reflect.Int64: "ten", // time.Duration
	reflect.Map:   "no-colon",
}

// extraBad are bad values that parse but make no sense.
var extraBad = []struct{ name, value string }{
	{"NOVAFLOW_REPORT_INTERVAL", "-1s"},
	{"NOVAFLOW_RPC_RESPONSE_TIMEOUT", "0s"},
	{"NOVAFLOW_CAST_TIMEOUT", "-1h"},
	{"NOVAFLOW_AUTH_MAX_CALL_AGE", "-1h"},
	{"NOVAFLOW_SCHEDULER_MAX_ATTEMPTS", "0"},
	{"NOVAFLOW_COMPUTE_DRIVER_OPTIONS", "vcpus:many"},
	{"NOVAFLOW_VOLUME_DRIVER_OPTIONS", "no_such_option:1"},
}

// settingCase is one run of `novaflow run <topic>` with a bad setting.
type settingCase struct {
	topic, name string
	bad         badSetting
}

// settingCases lists a bad value of every field of worker.Config and of each
// registered manager's settings struct (worker.Settings), with the topic
// whose service reads it.
func settingCases(t *testing.T) []settingCase {
	t.Helper()
	specs := []struct {
		topic string
		spec  any
	}{{"compute", &worker.Config{}}}
	names := managers.Names()
	sort.Strings(names)
	for _, name := range names {
		def, _ := managers.Lookup(name)
		if def.Config != nil {
			specs = append(specs, struct {
				topic string
				spec  any
			}{def.Topic, reflect.New(reflect.TypeOf(def.Config).Elem()).Interface()})
		}
	}
	var cases []settingCase
	seen := map[string]bool{}
	for _, s := range specs {
		typ := reflect.TypeOf(s.spec).Elem()
		settings := worker.Settings(s.spec)
		i := 0
		for _, f := range reflect.VisibleFields(typ) {
			if f.Tag.Get("envconfig") == "" || !f.IsExported() {
				continue
			}
			name := worker.EnvPrefix + "_" + f.Tag.Get("envconfig")
			if i >= len(settings) || name != settings[i].Name {
				t.Fatalf("worker.Settings does not list %s where the struct has it", name)
			}
			i++
			if seen[name] { // the scheduler reads the runtime's REPORT_INTERVAL too
				continue
			}
			seen[name] = true
			bad, ok := badStrings[name]
			if f.Type.Kind() != reflect.String {
				bad, ok = badSetting{value: badByKind[f.Type.Kind()]}, badByKind[f.Type.Kind()] != ""
			}
			if !ok {
				t.Errorf("setting %s (%s) has no bad value to try: add one to badStrings", name, f.Type)
				continue
			}
			cases = append(cases, settingCase{topic: s.topic, name: name, bad: bad})
		}
	}
	for _, e := range extraBad {
		topic := "compute"
		if strings.HasPrefix(e.name, "NOVAFLOW_SCHEDULER_") {
			topic = "scheduler"
		}
		if strings.HasPrefix(e.name, "NOVAFLOW_VOLUME_") {
			topic = "volume"
		}
		cases = append(cases, settingCase{topic: topic, name: e.name, bad: badSetting{value: e.value}})
	}
	return cases
}

// TestNovaflowBinary runs the novaflow binary, built once, against bad
// settings, an unreachable database, a database URL that wants TLS from a
// server without it, and secrets given in files.
func TestNovaflowBinary(t *testing.T) {
	bin := buildNovaflow(t)
	srv := testenv.Temporal(t)
	dbURL := testenv.Postgres(t)
	base := func(t *testing.T) map[string]string {
		return map[string]string{
			"NOVAFLOW_DATABASE_URL":       dbURL,
			"NOVAFLOW_TEMPORAL_ADDRESS":   srv.Address(),
			"NOVAFLOW_TEMPORAL_NAMESPACE": srv.Namespace(),
			"NOVAFLOW_HOST":               testenv.UniqueName(t, "h"),
			"NOVAFLOW_REPORT_INTERVAL":    "0s",
			"NOVAFLOW_PERIODIC_ENABLE":    "false",
			"NOVAFLOW_VERSIONING":         "off",
			"NOVAFLOW_COMPUTE_DRIVER":     "fake", // compute refuses to start without one
			"NOVAFLOW_COMPUTE_STATE_DIR":  t.TempDir(),
			"NOVAFLOW_VOLUME_DATA_DIR":    t.TempDir(),
		}
	}

	// Every setting with a bad value: exit 1 and one line naming it.
	t.Run("settings", func(t *testing.T) {
		for _, c := range settingCases(t) {
			t.Run(strings.TrimPrefix(c.name, "NOVAFLOW_")+"="+trim(c.bad.value), func(t *testing.T) {
				t.Parallel()
				env := base(t)
				for k, v := range c.bad.env {
					env[k] = v
				}
				if c.bad.setup != nil {
					c.bad.setup(t, env)
				}
				env[c.name] = c.bad.value
				args := c.bad.args
				if args == nil {
					args = []string{"run", c.topic}
				}
				code, _, stderr := runNovaflow(t, bin, env, time.Minute, args...)
				checkOneLine(t, code, stderr, c.name)
			})
		}
	})

	// A service that cannot reach PostgreSQL at start.
	t.Run("database unreachable", func(t *testing.T) {
		env := base(t)
		env["NOVAFLOW_DATABASE_URL"] = "postgres://novaflow:pw-unreachable@127.0.0.1:1/novaflow"
		start := time.Now()
		code, _, stderr := runNovaflow(t, bin, env, time.Minute, "run", "compute")
		checkOneLine(t, code, stderr, "NOVAFLOW_DATABASE_URL: connect to PostgreSQL at postgres://novaflow:xxxxx@127.0.0.1:1/novaflow")
		if strings.Contains(stderr, "pw-unreachable") {
			t.Errorf("the password was printed: %s", stderr)
		}
		t.Logf("exit 1 after %s: %s", time.Since(start).Round(time.Millisecond), stderr)
	})

	// sslmode is honoured: a server without TLS is refused when the URL
	// requires it, and used when the URL prefers it.
	t.Run("sslmode", func(t *testing.T) {
		for _, mode := range []string{"require", "verify-ca", "verify-full"} {
			env := base(t)
			env["NOVAFLOW_DATABASE_URL"] = withQuery(t, dbURL, "sslmode", mode)
			code, _, stderr := runNovaflow(t, bin, env, time.Minute, "run", "compute")
			checkOneLine(t, code, stderr, "NOVAFLOW_DATABASE_URL")
			if !strings.Contains(stderr, "server refused TLS connection") {
				t.Errorf("sslmode=%s: %q does not say that the server refused TLS", mode, stderr)
			}
		}
		ctx := t.Context()
		if pool, err := db.Open(ctx, withQuery(t, dbURL, "sslmode", "prefer")); err != nil {
			t.Errorf("sslmode=prefer against a server without TLS: %v", err)
		} else {
			pool.Close()
		}
	})

	// Secrets in files: used, and never printed, with debug logs, by a
	// running service, by `novaflow config`, and in failures.
	t.Run("secret files", func(t *testing.T) {
		const password, apiKey = "pw-s3cr3t-file-51c0", "key-s3cr3t-file-7a3e"
		dir := t.TempDir()
		urlFile := filepath.Join(dir, "database-url")
		write(t, urlFile, withPassword(t, dbURL, password)+"\n")
		keyFile := filepath.Join(dir, "api-key")
		write(t, keyFile, apiKey+"\n")

		// A service that runs with the URL from the file.
		env := base(t)
		delete(env, "NOVAFLOW_DATABASE_URL")
		env["NOVAFLOW_DATABASE_URL_FILE"] = urlFile
		env["NOVAFLOW_LOG_LEVEL"] = "debug"
		env["NOVAFLOW_REPORT_INTERVAL"] = "1s"
		out := runUntilUp(t, bin, env, dbURL)
		checkNoSecret(t, "a running service", out, password, apiKey)

		code, stdout, stderr := runNovaflow(t, bin, map[string]string{
			"NOVAFLOW_DATABASE_URL_FILE": urlFile, "NOVAFLOW_TEMPORAL_API_KEY_FILE": keyFile,
		}, time.Minute, "config")
		if code != 0 || !strings.Contains(stdout, "NOVAFLOW_TEMPORAL_API_KEY  ") || !strings.Contains(stdout, "(set)") {
			t.Errorf("novaflow config: exit %d\n%s%s", code, stdout, stderr)
		}
		checkNoSecret(t, "novaflow config", stdout+stderr, password, apiKey)

		// The API key implies TLS, which this server does not speak.
		env = base(t)
		env["NOVAFLOW_TEMPORAL_API_KEY_FILE"] = keyFile
		env["NOVAFLOW_LOG_LEVEL"] = "debug"
		code, stdout, stderr = runNovaflow(t, bin, env, time.Minute, "run", "compute")
		checkOneLine(t, code, stderr, "NOVAFLOW_TEMPORAL_ADDRESS")
		checkNoSecret(t, "a failed start", stdout+stderr, password, apiKey)

		env = base(t)
		env["NOVAFLOW_DATABASE_URL_FILE"] = urlFile
		code, stdout, stderr = runNovaflow(t, bin, env, time.Minute, "run", "compute")
		checkOneLine(t, code, stderr, "NOVAFLOW_DATABASE_URL_FILE: set only one of NOVAFLOW_DATABASE_URL_FILE and NOVAFLOW_DATABASE_URL")
		checkNoSecret(t, "a failed start", stdout+stderr, password, apiKey)
	})
}

// checkOneLine checks that a command failed with exit code 1 and reported
// it in one line, its last, naming want. Lines before it may only be the
// service's log lines below error level (the telemetry line at start).
func checkOneLine(t *testing.T, code int, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	ok := code == 1 && strings.HasSuffix(stderr, "\n") && strings.HasPrefix(last, "novaflow: ") && strings.Contains(last, want)
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "time=") || strings.Contains(l, "level=ERROR") {
			ok = false
		}
	}
	if !ok {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line naming %q", code, stderr, want)
	}
}

func checkNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if i := strings.Index(text, s); i >= 0 {
			t.Errorf("%s printed a secret: …%s…", what, text[max(0, i-200):min(len(text), i+len(s)+50)])
		}
	}
}

// runUntilUp runs `novaflow run compute` with env until its record shows
// two reports in the database of dbURL, then stops it with SIGTERM and
// returns everything it printed.
func runUntilUp(t *testing.T, bin string, env map[string]string, dbURL string) string {
	t.Helper()
	p := startProcess(t, bin, env, "run", "compute")
	ctx := t.Context()
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	services := servicegroup.NewStore(pool)
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := services.Get(ctx, env["NOVAFLOW_HOST"], "novaflow-compute")
		if err == nil && r.ReportCount >= 2 {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("the service did not come up with the database URL from its file:\n%s", p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("SIGTERM: exit %d\n%s", code, p.output())
	}
	return p.output()
}

func withQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// withPassword gives the URL's user a password (the test server trusts
// every connection, so any password works).
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	if _, err := pgx.ParseConfig(u.String()); err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func trim(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}
