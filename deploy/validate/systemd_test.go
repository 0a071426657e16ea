package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const systemdDir = "deploy/systemd"

// unitFile is a systemd unit file: section -> key -> values, in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section", path, n)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is the effective value of a key set once or more; "" when unset.
func (u unitFile) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// systemdUnits copies the units to a temporary folder, with ExecStart's
// /usr/local/bin/novaflow replaced by an executable that exists here (this
// test binary): systemd-analyze checks that it does.
func systemdUnits(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(repoRoot, systemdDir)
	err = filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == "env" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/novaflow"), []byte(self))
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is needed to check the systemd units (package systemd): %v", err)
	}
	return p
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on each unit, the
// template as each topic's instance (with its drop-ins). verify exits 0 on
// unknown keys and bad values, which it only prints: any output fails.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := systemdUnits(t)
	for _, unit := range []string{"novaflow@compute.service", "novaflow@scheduler.service", "novaflow@conductor.service", "novaflow.target", "novaflow-migrate.service"} {
		out, err := exec.Command(analyze, "verify", filepath.Join(dir, unit)).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
	// It does catch mistakes this way.
	bad := filepath.Join(dir, "novaflow@compute.service.d", "zz-bad.conf")
	if err := os.WriteFile(bad, []byte("[Service]\nKillMode=sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", filepath.Join(dir, "novaflow@compute.service")).CombinedOutput(); !bytes.Contains(out, []byte("sometimes")) {
		t.Errorf("systemd-analyze verify did not report a bad KillMode in a drop-in: %s", out)
	}
}

// TestSystemdUnitsHardening bounds the exposure level systemd-analyze
// security gives each service (0 = locked down, 10 = no hardening).
func TestSystemdUnitsHardening(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := systemdUnits(t)
	const threshold = 2.0 // systemd-analyze takes it times 10
	for _, unit := range []string{"novaflow@compute.service", "novaflow@conductor.service", "novaflow-migrate.service"} {
		cmd := exec.Command(analyze, "security", "--offline=yes", "--no-pager", fmt.Sprintf("--threshold=%d", int(threshold*10)), filepath.Join(dir, unit))
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("%s: %s", unit, lines[len(lines)-1])
		if err != nil {
			t.Errorf("systemd-analyze security %s: exposure above %.1f (%v):\n%s", unit, threshold, err, out)
		}
	}
}

// TestSystemdUnits checks what the units promise: topic = instance name,
// settings from EnvironmentFiles, SIGTERM with time to finish in-flight work,
// SIGHUP on reload, and compute's instances left alive on stop.
func TestSystemdUnits(t *testing.T) {
	s := loadSettings(t)
	src := filepath.Join(repoRoot, systemdDir)
	tmpl := parseUnit(t, filepath.Join(src, "novaflow@.service"))
	svc := func(key string) string { return tmpl.last("Service", key) }

	if got := svc("ExecStart"); got != "/usr/local/bin/novaflow run %i" {
		t.Errorf("ExecStart=%s, want the topic's service: novaflow run %%i", got)
	}
	if got := svc("ExecReload"); !strings.Contains(got, "kill -HUP $MAINPID") {
		t.Errorf("ExecReload=%s, want SIGHUP to the main process", got)
	}
	if got := svc("KillSignal"); got != "SIGTERM" {
		t.Errorf("KillSignal=%s, want SIGTERM", got)
	}
	if got := svc("KillMode"); got != "mixed" {
		t.Errorf("KillMode=%s in the template, want mixed", got)
	}
	files := tmpl["Service"]["EnvironmentFile"]
	if len(files) != 2 || files[0] != "/etc/novaflow/novaflow.env" || files[1] != "-/etc/novaflow/%i.env" {
		t.Errorf("EnvironmentFile=%v, want the host's settings and the topic's optional ones", files)
	}
	stop, err := time.ParseDuration(svc("TimeoutStopSec") + "s")
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", svc("TimeoutStopSec"), err)
	}
	shared := readEnvFile(t, filepath.Join(src, "env", "novaflow.env"))
	graceful, err := s.gracefulTimeout(shared)
	if err != nil {
		t.Fatal(err)
	}
	if stop < graceful+10*time.Second {
		t.Errorf("TimeoutStopSec=%s, want at least NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT (%s) + 10s", stop, graceful)
	}
	for _, key := range []string{"NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome", "CapabilityBoundingSet", "SystemCallFilter", "RestrictAddressFamilies"} {
		if len(tmpl["Service"][key]) == 0 {
			t.Errorf("hardening option %s is not set", key)
		}
	}

	compute := parseUnit(t, filepath.Join(src, "novaflow@compute.service.d", "instances.conf"))
	if got := compute.last("Service", "KillMode"); got != "process" {
		t.Errorf("novaflow@compute KillMode=%s, want process: the instances are its children and outlive it", got)
	}

	// The env files: known settings, one health address per topic.
	addrs := map[string]string{}
	for _, name := range []string{"novaflow", "compute", "scheduler", "conductor"} {
		env := readEnvFile(t, filepath.Join(src, "env", name+".env"))
		for k := range env {
			if !s.known(k) {
				t.Errorf("env/%s.env: %s is not a novaflow setting", name, k)
			}
		}
		if name == "novaflow" {
			continue
		}
		a := env["NOVAFLOW_HEALTH_ADDRESS"]
		if _, _, err := net.SplitHostPort(a); err != nil {
			t.Errorf("env/%s.env: NOVAFLOW_HEALTH_ADDRESS=%q: %v", name, a, err)
		}
		if other, dup := addrs[a]; dup {
			t.Errorf("env/%s.env and env/%s.env share NOVAFLOW_HEALTH_ADDRESS %s", name, other, a)
		}
		addrs[a] = name
	}
}
