package validate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// repoRoot is the novaflow checkout this module sits in.
const repoRoot = "../.."

// settings are novaflow's settings as docs/configuration.md lists them (a
// test of the main module keeps that table equal to the code): name to
// default, and the patterns of the per-topic and per-kind ones.
type settings struct {
	defaults map[string]string
	patterns []*regexp.Regexp
}

var settingRow = regexp.MustCompile("^\\| `(NOVAFLOW_[A-Z0-9_<>]+)` \\| (?:`([^`]*)`|\\(none\\)) \\|")

func loadSettings(t *testing.T) settings {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := settings{defaults: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := settingRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if strings.Contains(m[1], "<") {
			re := regexp.MustCompile(`<[A-Z]+>`).ReplaceAllString(regexp.QuoteMeta(m[1]), `[A-Z0-9_]+`)
			s.patterns = append(s.patterns, regexp.MustCompile("^"+re+"$"))
			continue
		}
		s.defaults[m[1]] = m[2]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(s.defaults) < 10 || s.defaults["NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT"] == "" {
		t.Fatalf("docs/configuration.md: found %d settings and no default of NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT: has its table changed?", len(s.defaults))
	}
	return s
}

// known reports whether name is a novaflow setting.
func (s settings) known(name string) bool {
	if _, ok := s.defaults[name]; ok {
		return true
	}
	for _, p := range s.patterns {
		if p.MatchString(name) {
			return true
		}
	}
	return false
}

// envAllowed reports whether a service may be given variable name: a
// novaflow setting, or one of OpenTelemetry's (docs/observability.md).
func (s settings) envAllowed(name string) bool {
	return s.known(name) || strings.HasPrefix(name, "OTEL_")
}

// gracefulTimeout is NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT in env, or its
// default.
func (s settings) gracefulTimeout(env map[string]string) (time.Duration, error) {
	v, ok := env["NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT"]
	if !ok {
		v = s.defaults["NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT"]
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT=%q: %w", v, err)
	}
	return d, nil
}

// readEnvFile reads a KEY=value file (systemd EnvironmentFile, kustomize
// envs): # comments, blank lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not KEY=value", path, n+1)
		}
		env[k] = v
	}
	return env
}

func TestSettingsTable(t *testing.T) {
	s := loadSettings(t)
	for _, name := range []string{"NOVAFLOW_HOST", "NOVAFLOW_DATABASE_URL", "NOVAFLOW_BUILD_ID", "NOVAFLOW_COMPUTE_DRIVER", "NOVAFLOW_COMPUTE_MANAGER", "NOVAFLOW_TEMPORAL_TLS_CA",
		"NOVAFLOW_VOLUME_DRIVER", "NOVAFLOW_VOLUME_DATA_DIR", "NOVAFLOW_VOLUME_DRIVER_OPTIONS"} {
		if !s.known(name) {
			t.Errorf("%s is not in docs/configuration.md", name)
		}
	}
	if s.known("NOVAFLOW_NO_SUCH_SETTING") {
		t.Error("NOVAFLOW_NO_SUCH_SETTING is known")
	}
}
