package validate

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/novaflow/novaflow/internal/devstack"
)

const composeDir = "deploy/compose"

// composeFile is the part of the compose specification deploy/compose uses;
// decoded strictly, a key it does not name fails the test.
type composeFile struct {
	Name      string                    `yaml:"name"`
	XNovaflow map[string]any            `yaml:"x-novaflow"`
	Services  map[string]composeService `yaml:"services"`
	Volumes   map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           *composeBuild                `yaml:"build"`
	Restart         string                       `yaml:"restart"`
	StopSignal      string                       `yaml:"stop_signal"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
	ReadOnly        bool                         `yaml:"read_only"`
	Tmpfs           []string                     `yaml:"tmpfs"`
	Environment     map[string]string            `yaml:"environment"`
	Healthcheck     *composeHealthcheck          `yaml:"healthcheck"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Entrypoint      []string                     `yaml:"entrypoint"`
	Command         []string                     `yaml:"command"`
	Volumes         []string                     `yaml:"volumes"`
	Ports           []string                     `yaml:"ports"`
	Deploy          *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

// composeVariable is ${NAME} or ${NAME:-default} in a compose file.
var composeVariable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// decodeCompose decodes a compose file strictly (yaml.v3 resolves the
// anchors and merge keys as compose does), its variables at their defaults;
// the image name keeps its variable, to tell novaflow's services.
func decodeCompose(b []byte) (composeFile, error) {
	var f composeFile
	b = composeVariable.ReplaceAllFunc(b, func(v []byte) []byte {
		if bytes.HasPrefix(v, []byte("${NOVAFLOW_IMAGE")) {
			return v
		}
		return composeVariable.ReplaceAll(v, []byte("$2"))
	})
	dec := yamlv3.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	return f, err
}

func loadCompose(t *testing.T) (composeFile, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, composeDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := decodeCompose(b)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return f, b
}

// TestComposeSpec loads the compose file as `docker compose` does, with
// compose-go: the compose specification's schema, interpolation, and the
// project's consistency (services, volumes and dependencies that exist).
func TestComposeSpec(t *testing.T) {
	dir := filepath.Join(repoRoot, composeDir)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv([]string{}), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	if p.Name != "novaflow" {
		t.Errorf("project name %q", p.Name)
	}
	c, ok := p.Services["conductor"]
	if !ok || c.Environment["NOVAFLOW_DATABASE_URL"] == nil || *c.Environment["NOVAFLOW_DATABASE_URL"] != "postgres://novaflow:novaflow@postgres:5432/novaflow?sslmode=disable" {
		t.Errorf("conductor's database URL after interpolation: %v", c.Environment["NOVAFLOW_DATABASE_URL"])
	}
}

// checkCompose returns what is wrong with the compose file: references,
// settings, health checks, stop periods and pinned versions.
func checkCompose(f composeFile, s settings, dynamicConfig map[string]any) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	novaflowImage := "${NOVAFLOW_IMAGE:-novaflow}"

	for name, svc := range f.Services {
		for dep, d := range svc.DependsOn {
			target, ok := f.Services[dep]
			switch {
			case !ok:
				fail("%s depends on %s, which is no service", name, dep)
			case d.Condition == "service_healthy" && (target.Healthcheck == nil || target.Healthcheck.Disable || len(target.Healthcheck.Test) == 0):
				fail("%s waits for %s to be healthy, which has no health check", name, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				fail("%s waits for %s to complete, which restarts (restart: %q)", name, dep, target.Restart)
			case d.Condition != "service_started" && d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				fail("%s depends on %s with condition %q", name, dep, d.Condition)
			}
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				fail("%s publishes %s on every interface, want 127.0.0.1 only", name, p)
			}
		}
		if svc.Image != novaflowImage {
			if !strings.Contains(svc.Image, ":") || strings.HasSuffix(svc.Image, ":latest") {
				fail("%s: image %q: want a pinned version", name, svc.Image)
			}
			continue
		}

		// novaflow's own.
		migrate := slices.Equal(svc.Command, []string{"migrate"})
		setup := isTemporalSetup(svc.Command)
		topic := ""
		if len(svc.Command) == 2 && svc.Command[0] == "run" {
			topic = svc.Command[1]
		}
		if !migrate && !setup && topic == "" {
			fail("%s: command %q: want [run <topic>], [migrate] or [temporal setup]", name, svc.Command)
			continue
		}
		for k := range svc.Environment {
			if !s.envAllowed(k) {
				fail("%s: %s is not a novaflow setting", name, k)
			}
		}
		db, err := url.Parse(svc.Environment["NOVAFLOW_DATABASE_URL"])
		if err != nil {
			db = &url.URL{}
		}
		pg := f.Services[db.Hostname()]
		if err != nil || pg.Environment["POSTGRES_DB"] == "" || strings.TrimPrefix(db.Path, "/") != pg.Environment["POSTGRES_DB"] || db.User.Username() != pg.Environment["POSTGRES_USER"] {
			fail("%s: NOVAFLOW_DATABASE_URL %q does not name the database of a PostgreSQL service", name, svc.Environment["NOVAFLOW_DATABASE_URL"])
		}
		if migrate || setup {
			if svc.Restart != "no" {
				fail("%s: %q must run once (restart: \"no\")", name, svc.Command)
			}
		}
		if migrate {
			continue
		}
		host, port, _ := net.SplitHostPort(svc.Environment["NOVAFLOW_TEMPORAL_ADDRESS"])
		if tmp, ok := f.Services[host]; !ok || port != "7233" || !strings.HasPrefix(tmp.Image, "temporalio/") {
			fail("%s: NOVAFLOW_TEMPORAL_ADDRESS %q is not the Temporal service", name, svc.Environment["NOVAFLOW_TEMPORAL_ADDRESS"])
		}
		if setup {
			if svc.DependsOn[host].Condition != "service_healthy" {
				fail("%s: must start once the Temporal service is healthy", name)
			}
			continue
		}
		if svc.DependsOn["migrate"].Condition != "service_completed_successfully" || svc.DependsOn["temporal-setup"].Condition != "service_completed_successfully" {
			fail("%s: must start after the migration and Temporal's set-up have completed", name)
		}
		_, healthPort, err := net.SplitHostPort(svc.Environment["NOVAFLOW_HEALTH_ADDRESS"])
		if err != nil || svc.Healthcheck == nil || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), "127.0.0.1:"+healthPort+"/readyz") {
			fail("%s: health check %v does not ask /readyz on NOVAFLOW_HEALTH_ADDRESS %q", name, svc.Healthcheck, svc.Environment["NOVAFLOW_HEALTH_ADDRESS"])
		}
		grace, err := time.ParseDuration(svc.StopGracePeriod)
		graceful, gerr := s.gracefulTimeout(svc.Environment)
		if err != nil || gerr != nil || grace < graceful+10*time.Second {
			fail("%s: stop_grace_period %q, want at least NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT (%s) + 10s", name, svc.StopGracePeriod, graceful)
		}
		if svc.StopSignal != "SIGTERM" {
			fail("%s: stop_signal %q, want SIGTERM", name, svc.StopSignal)
		}
		if svc.ReadOnly && !slices.Contains(svc.Tmpfs, "/tmp") {
			fail("%s: read-only without a /tmp", name)
		}
		if topic == "compute" && svc.Environment["NOVAFLOW_COMPUTE_DRIVER"] == "" {
			fail("%s: NOVAFLOW_COMPUTE_DRIVER is not set: compute refuses to start without it", name)
		}
		// The file driver (the default) links volumes into compute's
		// state dir, which is in compute's own container.
		if topic == "volume" && svc.Environment["NOVAFLOW_VOLUME_DRIVER"] != "fake" {
			fail("%s: NOVAFLOW_VOLUME_DRIVER=%q: want fake (the file driver needs compute's state dir, in another container)", name, svc.Environment["NOVAFLOW_VOLUME_DRIVER"])
		}
	}

	// Temporal: the pinned server on the PostgreSQL service, its schemas
	// made first by Temporal's own tool, with novaflow's dynamic config, its
	// search attributes, its Web UI.
	version := strings.TrimPrefix(devstack.TemporalServerVersion, "v")
	tmp := f.Services["temporal"]
	if want := "temporalio/server:" + version; tmp.Image != want {
		fail("temporal: image %q, want %s (the server the pinned CLI bundles; auto-setup is deprecated)", tmp.Image, want)
	}
	pg, ok := f.Services[tmp.Environment["POSTGRES_SEEDS"]]
	if !ok || tmp.Environment["DB"] != "postgres12" {
		fail("temporal: DB=%s on %q, want postgres12 on the PostgreSQL service", tmp.Environment["DB"], tmp.Environment["POSTGRES_SEEDS"])
	}
	errs = append(errs, checkTemporalSchema(f, tmp, pg)...)
	mounted := false
	for _, v := range tmp.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if src == "./dynamicconfig.yaml" && dst == path.Join("/etc/temporal", tmp.Environment["DYNAMIC_CONFIG_FILE_PATH"]) {
			mounted = true
		}
	}
	if !mounted {
		fail("temporal: ./dynamicconfig.yaml is not mounted at DYNAMIC_CONFIG_FILE_PATH %q", tmp.Environment["DYNAMIC_CONFIG_FILE_PATH"])
	}
	for k, v := range devstack.TemporalDynamicConfig() {
		if k == "system.forceSearchAttributesCacheRefreshOnRead" { // a development setting
			continue
		}
		if got, ok := dynamicConfig[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			fail("dynamicconfig.yaml: %s = %v, want %v as the dev stack has it", k, got, v)
		}
	}
	// novaflow's own set-up registers workflows.SearchAttributes, all of them.
	if setup := f.Services["temporal-setup"]; setup.Image != novaflowImage || !isTemporalSetup(setup.Command) {
		fail("temporal-setup: %s %q: want novaflow's `temporal setup`", setup.Image, setup.Command)
	}
	if ui := f.Services["temporal-ui"]; ui.Environment["TEMPORAL_ADDRESS"] != "temporal:7233" {
		fail("temporal-ui: TEMPORAL_ADDRESS %q", ui.Environment["TEMPORAL_ADDRESS"])
	}
	return errs
}

// checkTemporalSchema checks the service that prepares the Temporal
// server's databases before it starts: Temporal's admin tools at the
// server's version, on the server's PostgreSQL as its user, and for each of
// its two databases the schema tool's idempotent steps: create-database,
// setup-schema -v 0.0, update-schema to the embedded schema of the server.
func checkTemporalSchema(f composeFile, tmp, pg composeService) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var name string
	for dep, d := range tmp.DependsOn {
		if d.Condition == "service_completed_successfully" && strings.HasPrefix(f.Services[dep].Image, "temporalio/admin-tools:") {
			name = dep
		}
	}
	if name == "" {
		fail("temporal: starts after no admin-tools service that completes (its schemas come first)")
		return errs
	}
	svc := f.Services[name]
	version := strings.TrimPrefix(devstack.TemporalServerVersion, "v")
	if tag := strings.TrimPrefix(svc.Image, "temporalio/admin-tools:"); tag != version && !strings.HasPrefix(tag, version+"-") {
		fail("%s: image %s, want the admin tools of server %s", name, svc.Image, version)
	}
	if svc.DependsOn[tmp.Environment["POSTGRES_SEEDS"]].Condition != "service_healthy" {
		fail("%s: must start once PostgreSQL is healthy", name)
	}
	env := svc.Environment
	if env["SQL_PLUGIN"] != tmp.Environment["DB"] || env["SQL_HOST"] != tmp.Environment["POSTGRES_SEEDS"] || env["SQL_PORT"] != tmp.Environment["DB_PORT"] ||
		env["SQL_USER"] != tmp.Environment["POSTGRES_USER"] || env["SQL_PASSWORD"] != tmp.Environment["POSTGRES_PWD"] {
		fail("%s: SQL_* %v: want the server's database connection (DB, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD)", name, env)
	}
	if env["SQL_USER"] != pg.Environment["POSTGRES_USER"] || env["SQL_PASSWORD"] != pg.Environment["POSTGRES_PASSWORD"] {
		fail("%s: SQL_USER / SQL_PASSWORD are not the PostgreSQL service's user", name)
	}
	if !slices.Equal(svc.Entrypoint, []string{"/bin/sh", "-ec"}) || len(svc.Command) != 1 {
		fail("%s: entrypoint %q command %q: want one script run by /bin/sh -ec (stops at the first failure)", name, svc.Entrypoint, svc.Command)
		return errs
	}
	var steps []string
	for _, line := range strings.Split(svc.Command[0], "\n") {
		if line = strings.TrimSpace(line); line != "" {
			steps = append(steps, line)
		}
	}
	var want []string
	for db, schema := range map[string]string{cmpOr(tmp.Environment["DBNAME"], "temporal"): "temporal", cmpOr(tmp.Environment["VISIBILITY_DBNAME"], "temporal_visibility"): "visibility"} {
		step := "temporal-sql-tool --db " + db
		want = append(want, step+" create-database", step+" setup-schema -v 0.0", step+" update-schema --schema-name postgresql/v12/"+schema)
	}
	for _, w := range want {
		if !slices.Contains(steps, w) {
			fail("%s: no step %q", name, w)
		}
	}
	for i, st := range steps {
		// For each database: create, then set up, then update.
		if strings.Contains(st, "setup-schema") && (i == 0 || !strings.HasSuffix(steps[i-1], "create-database")) ||
			strings.Contains(st, "update-schema") && (i == 0 || !strings.Contains(steps[i-1], "setup-schema")) {
			fail("%s: step %q out of order", name, st)
		}
	}
	if len(steps) != len(want) {
		fail("%s: %d steps, want %d", name, len(steps), len(want))
	}
	return errs
}

// readDynamicConfig reads a Temporal dynamic config file: key to the value
// of its single, unconstrained entry.
func readDynamicConfig(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, composeDir, "dynamicconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string][]struct {
		Value       any            `json:"value"`
		Constraints map[string]any `json:"constraints"`
	}
	if err := yaml.UnmarshalStrict(b, &raw); err != nil {
		t.Fatalf("dynamicconfig.yaml: %v", err)
	}
	out := map[string]any{}
	for k, vs := range raw {
		if len(vs) != 1 || len(vs[0].Constraints) != 0 {
			t.Fatalf("dynamicconfig.yaml: %s: want one value without constraints", k)
		}
		out[k] = vs[0].Value
	}
	return out
}

func TestCompose(t *testing.T) {
	s := loadSettings(t)
	f, _ := loadCompose(t)
	dyn := readDynamicConfig(t)
	for _, err := range checkCompose(f, s, dyn) {
		t.Errorf("compose.yaml: %v", err)
	}
	for _, want := range []string{"postgres", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate", "conductor", "scheduler", "compute", "volume"} {
		if _, ok := f.Services[want]; !ok {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	if t.Failed() {
		t.FailNow() // the cases below break those services
	}

	// The checks catch what they are for.
	cases := []struct {
		name   string
		break_ func(f *composeFile)
		want   string
	}{
		{"dependency on no service", func(f *composeFile) {
			f.Services["scheduler"].DependsOn["temporal-server"] = composeDependency{Condition: "service_healthy"}
		}, "temporal-server, which is no service"},
		{"healthy without a health check", func(f *composeFile) {
			pg := f.Services["postgres"]
			pg.Healthcheck = nil
			f.Services["postgres"] = pg
		}, "no health check"},
		{"short stop period", func(f *composeFile) {
			c := f.Services["compute"]
			c.StopGracePeriod = "10s"
			f.Services["compute"] = c
		}, "stop_grace_period"},
		{"misspelt setting", func(f *composeFile) { f.Services["conductor"].Environment["NOVAFLOW_HEALTH_ADRESS"] = ":1" }, "not a novaflow setting"},
		{"misspelt volume setting", func(f *composeFile) { f.Services["volume"].Environment["NOVAFLOW_VOLUME_DRIVR"] = "fake" }, "volume: NOVAFLOW_VOLUME_DRIVR is not a novaflow setting"},
		{"volume on the file driver", func(f *composeFile) { delete(f.Services["volume"].Environment, "NOVAFLOW_VOLUME_DRIVER") }, `volume: NOVAFLOW_VOLUME_DRIVER="": want fake`},
		{"compute without its driver", func(f *composeFile) { delete(f.Services["compute"].Environment, "NOVAFLOW_COMPUTE_DRIVER") }, "compute: NOVAFLOW_COMPUTE_DRIVER is not set"},
		{"volume without the migration", func(f *composeFile) { delete(f.Services["volume"].DependsOn, "migrate") }, "volume: must start after the migration"},
		{"set-up by hand", func(f *composeFile) {
			setup := f.Services["temporal-setup"]
			setup.Image, setup.Command = "temporalio/admin-tools:1.29.1", []string{"temporal", "operator", "search-attribute", "create"}
			f.Services["temporal-setup"] = setup
		}, "want novaflow's `temporal setup`"},
		{"health check on another port", func(f *composeFile) { f.Services["scheduler"].Environment["NOVAFLOW_HEALTH_ADDRESS"] = ":9090" }, "does not ask /readyz"},
		{"another server version", func(f *composeFile) {
			tmp := f.Services["temporal"]
			tmp.Image = "temporalio/server:1.28.0"
			f.Services["temporal"] = tmp
		}, "the server the pinned CLI bundles"},
		{"back on auto-setup", func(f *composeFile) {
			tmp := f.Services["temporal"]
			tmp.Image = "temporalio/auto-setup:1.29.1"
			f.Services["temporal"] = tmp
		}, "auto-setup is deprecated"},
		{"server before its schemas", func(f *composeFile) {
			delete(f.Services["temporal"].DependsOn, "temporal-schema")
		}, "starts after no admin-tools service"},
		{"schema tool of another version", func(f *composeFile) {
			s := f.Services["temporal-schema"]
			s.Image = "temporalio/admin-tools:1.28.0"
			f.Services["temporal-schema"] = s
		}, "want the admin tools of server"},
		{"schema tool on another database user", func(f *composeFile) { f.Services["temporal-schema"].Environment["SQL_USER"] = "temporal" }, "want the server's database connection"},
		{"visibility schema missing", func(f *composeFile) {
			s := f.Services["temporal-schema"]
			s.Command = []string{strings.ReplaceAll(s.Command[0], "temporal_visibility update-schema --schema-name postgresql/v12/visibility", "temporal_visibility update-schema --schema-name postgresql/v12/temporal")}
			f.Services["temporal-schema"] = s
		}, "no step \"temporal-sql-tool --db temporal_visibility update-schema --schema-name postgresql/v12/visibility\""},
		{"update before set-up", func(f *composeFile) {
			s := f.Services["temporal-schema"]
			lines := strings.Split(s.Command[0], "\n")
			lines[1], lines[2] = lines[2], lines[1]
			s.Command = []string{strings.Join(lines, "\n")}
			f.Services["temporal-schema"] = s
		}, "out of order"},
		{"schema script that goes on after a failure", func(f *composeFile) {
			s := f.Services["temporal-schema"]
			s.Entrypoint = []string{"/bin/sh", "-c"}
			f.Services["temporal-schema"] = s
		}, "/bin/sh -ec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _ := loadCompose(t)
			c.break_(&f)
			errs := checkCompose(f, s, dyn)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
				t.Errorf("errors %v, want one containing %q", errs, c.want)
			}
		})
	}
	if _, err := decodeCompose([]byte("services:\n  a:\n    image: x:1\n    stop_grace_periode: 1s\n")); err == nil {
		t.Error("an unknown compose key decoded without error")
	}
}
