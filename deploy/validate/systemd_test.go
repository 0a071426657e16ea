package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	for _, unit := range []string{"novaflow@compute.service", "novaflow@volume.service", "novaflow@scheduler.service", "novaflow@conductor.service", "novaflow.target", "novaflow-migrate.service"} {
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
	for _, unit := range []string{"novaflow@compute.service", "novaflow@volume.service", "novaflow@conductor.service", "novaflow-migrate.service"} {
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
// SIGHUP on reload, compute's instances left alive on stop, and the drivers'
// directories writable under the sandbox (checkSystemdPaths).
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
	envs := map[string]map[string]string{}
	for _, name := range systemdEnvFiles {
		env := readEnvFile(t, filepath.Join(src, "env", name+".env"))
		envs[name] = env
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
	if found, _ := filepath.Glob(filepath.Join(src, "env", "*.env")); len(found) != len(systemdEnvFiles) {
		t.Errorf("env/: %d files, the checks know %d (%v)", len(found), len(systemdEnvFiles), systemdEnvFiles)
	}

	for _, err := range checkSystemdPaths(s, tmpl, systemdDropIns(t, src), envs) {
		t.Error(err)
	}
}

// systemdEnvFiles are the env files of deploy/systemd/env: the host's
// shared settings, then each topic's own.
var systemdEnvFiles = []string{"novaflow", "compute", "volume", "scheduler", "conductor"}

// systemdDataDirs are the settings of the directories where a topic's
// driver keeps what must outlive a restart.
var systemdDataDirs = map[string]string{"compute": "NOVAFLOW_COMPUTE_STATE_DIR", "volume": "NOVAFLOW_VOLUME_DATA_DIR"}

// systemdDropIns reads the drop-ins of the template's instances:
// novaflow@<topic>.service.d/*.conf, by topic, in the order systemd applies
// them.
func systemdDropIns(t *testing.T, src string) map[string][]unitFile {
	t.Helper()
	out := map[string][]unitFile{}
	confs, err := filepath.Glob(filepath.Join(src, "novaflow@*.service.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range confs { // Glob sorts: systemd's order within a folder
		topic := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(filepath.Dir(c)), "novaflow@"), ".service.d")
		out[topic] = append(out[topic], parseUnit(t, c))
	}
	return out
}

// expandSpecifiers expands the specifiers the units use, for a system
// service: %S (/var/lib), %i (the instance: the topic), %%.
func expandSpecifiers(v, topic string) string {
	return strings.NewReplacer("%%", "%", "%S", "/var/lib", "%i", topic).Replace(v)
}

// listSetting is a setting of the template with its drop-ins applied: the
// values in order, an empty assignment resetting the list.
func listSetting(units []unitFile, section, key string) []string {
	var out []string
	for _, u := range units {
		for _, v := range u[section][key] {
			if v == "" {
				out = nil
				continue
			}
			out = append(out, v)
		}
	}
	return out
}

// underAny reports whether path is one of dirs or lies under one.
func underAny(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// checkSystemdPaths checks what each topic's unit (the template with the
// topic's drop-ins) writes against its sandbox. ProtectSystem=strict leaves
// only the unit's StateDirectory= and ReadWritePaths= writable (and a
// private /tmp, emptied when the unit stops): the driver's data directory
// must be set (its default is in the temp dir) and lie in a persistent
// writable directory, and the volume file driver's mount_root (the links it
// makes for compute's instances) must be writable by the volume unit and be
// compute's state directory. Every Environment= setting must be a novaflow
// setting.
func checkSystemdPaths(s settings, tmpl unitFile, dropIns map[string][]unitFile, envs map[string]map[string]string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	effective := map[string]map[string]string{}
	writable := map[string][]string{}
	for _, topic := range systemdEnvFiles[1:] {
		units := append([]unitFile{tmpl}, dropIns[topic]...)
		// Environment= first; the EnvironmentFiles override it, the
		// topic's last.
		env := map[string]string{}
		for _, line := range listSetting(units, "Service", "Environment") {
			for _, assignment := range strings.Fields(line) {
				k, v, ok := strings.Cut(assignment, "=")
				if !ok || !s.known(k) {
					fail("novaflow@%s: Environment=%s: %s is not a novaflow setting", topic, line, k)
				}
				env[k] = expandSpecifiers(v, topic)
			}
		}
		for _, name := range []string{"novaflow", topic} {
			for k, v := range envs[name] {
				env[k] = v
			}
		}
		effective[topic] = env
		for _, d := range listSetting(units, "Service", "StateDirectory") {
			for _, f := range strings.Fields(d) {
				writable[topic] = append(writable[topic], "/var/lib/"+expandSpecifiers(f, topic))
			}
		}
		for _, d := range listSetting(units, "Service", "ReadWritePaths") {
			for _, f := range strings.Fields(d) {
				writable[topic] = append(writable[topic], expandSpecifiers(strings.TrimLeft(f, "-+"), topic))
			}
		}
		if ps := listSetting(units, "Service", "ProtectSystem"); len(ps) == 0 || ps[len(ps)-1] != "strict" {
			fail("novaflow@%s: ProtectSystem=%v, want strict (what these checks assume)", topic, ps)
		}
	}
	for topic, key := range systemdDataDirs {
		dir := effective[topic][key]
		switch {
		case dir == "":
			fail("novaflow@%s: %s is not set: its default is in the unit's private /tmp, emptied when it stops", topic, key)
		case !underAny(dir, writable[topic]):
			fail("novaflow@%s: %s=%s is not in its StateDirectory= or ReadWritePaths= %v: read-only under ProtectSystem=strict", topic, key, dir, writable[topic])
		}
	}
	if root := driverOption(effective["volume"]["NOVAFLOW_VOLUME_DRIVER_OPTIONS"], "mount_root"); root != "" {
		if !underAny(root, writable["volume"]) {
			fail("novaflow@volume: NOVAFLOW_VOLUME_DRIVER_OPTIONS mount_root:%s is not in its StateDirectory= or ReadWritePaths= %v: attach cannot link volumes there under ProtectSystem=strict", root, writable["volume"])
		}
		if state := effective["compute"]["NOVAFLOW_COMPUTE_STATE_DIR"]; root != state {
			fail("novaflow@volume: NOVAFLOW_VOLUME_DRIVER_OPTIONS mount_root:%s, want compute's NOVAFLOW_COMPUTE_STATE_DIR %s", root, state)
		}
		// compute's instances use the volumes through the links, in
		// compute's sandbox.
		if data := effective["volume"]["NOVAFLOW_VOLUME_DATA_DIR"]; !underAny(data, writable["compute"]) {
			fail("novaflow@compute: volume's NOVAFLOW_VOLUME_DATA_DIR %s is not in its StateDirectory= or ReadWritePaths= %v: its instances cannot write the volumes linked into them", data, writable["compute"])
		}
	}
	return errs
}

// TestSystemdPathChecksCatchMistakes breaks the units and env files in the
// ways checkSystemdPaths is for, one at a time, and expects each to be
// found; and accepts mount_root once drop-ins grant the writes it needs.
func TestSystemdPathChecksCatchMistakes(t *testing.T) {
	s := loadSettings(t)
	src := filepath.Join(repoRoot, systemdDir)
	grant := func(dir string) unitFile {
		return unitFile{"Service": {"ReadWritePaths": {dir}}}
	}
	cases := []struct {
		name   string
		break_ func(tmpl unitFile, dropIns map[string][]unitFile, envs map[string]map[string]string)
		want   string // "": no error
	}{
		{"mount_root without write access", func(_ unitFile, _ map[string][]unitFile, envs map[string]map[string]string) {
			envs["volume"]["NOVAFLOW_VOLUME_DRIVER_OPTIONS"] = "mount_root:/var/lib/novaflow/compute"
		}, "mount_root:/var/lib/novaflow/compute is not in its StateDirectory= or ReadWritePaths="},
		{"mount_root, compute cannot write the volumes", func(_ unitFile, dropIns map[string][]unitFile, envs map[string]map[string]string) {
			dropIns["volume"] = append(dropIns["volume"], grant("%S/novaflow/compute"))
			envs["volume"]["NOVAFLOW_VOLUME_DRIVER_OPTIONS"] = "mount_root:/var/lib/novaflow/compute"
		}, "novaflow@compute: volume's NOVAFLOW_VOLUME_DATA_DIR /var/lib/novaflow/volume is not in"},
		{"mount_root with both grants", func(_ unitFile, dropIns map[string][]unitFile, envs map[string]map[string]string) {
			dropIns["volume"] = append(dropIns["volume"], grant("-%S/novaflow/compute"))
			dropIns["compute"] = append(dropIns["compute"], grant("-%S/novaflow/volume"))
			envs["volume"]["NOVAFLOW_VOLUME_DRIVER_OPTIONS"] = "mount_root:/var/lib/novaflow/compute"
		}, ""},
		{"mount_root not compute's state dir", func(_ unitFile, dropIns map[string][]unitFile, envs map[string]map[string]string) {
			dropIns["volume"] = append(dropIns["volume"], grant("/srv/novaflow"))
			envs["volume"]["NOVAFLOW_VOLUME_DRIVER_OPTIONS"] = "mount_root:/srv/novaflow"
		}, "want compute's NOVAFLOW_COMPUTE_STATE_DIR /var/lib/novaflow/compute"},
		{"volume data dir in /tmp", func(_ unitFile, _ map[string][]unitFile, envs map[string]map[string]string) {
			envs["volume"]["NOVAFLOW_VOLUME_DATA_DIR"] = "/tmp/volumes"
		}, "novaflow@volume: NOVAFLOW_VOLUME_DATA_DIR=/tmp/volumes is not in"},
		{"volume data dir unset", func(tmpl unitFile, _ map[string][]unitFile, _ map[string]map[string]string) {
			tmpl["Service"]["Environment"] = slices.DeleteFunc(tmpl["Service"]["Environment"], func(v string) bool { return strings.HasPrefix(v, "NOVAFLOW_VOLUME_DATA_DIR=") })
		}, "novaflow@volume: NOVAFLOW_VOLUME_DATA_DIR is not set"},
		{"a drop-in resets the state directory", func(_ unitFile, dropIns map[string][]unitFile, _ map[string]map[string]string) {
			dropIns["volume"] = append(dropIns["volume"], unitFile{"Service": {"StateDirectory": {""}}})
		}, "novaflow@volume: NOVAFLOW_VOLUME_DATA_DIR=/var/lib/novaflow/volume is not in"},
		{"misspelt Environment= setting", func(tmpl unitFile, _ map[string][]unitFile, _ map[string]map[string]string) {
			tmpl["Service"]["Environment"] = append(tmpl["Service"]["Environment"], "NOVAFLOW_VOLUME_DATADIR=%S/novaflow/%i")
		}, "NOVAFLOW_VOLUME_DATADIR is not a novaflow setting"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := parseUnit(t, filepath.Join(src, "novaflow@.service"))
			dropIns := systemdDropIns(t, src)
			envs := map[string]map[string]string{}
			for _, name := range systemdEnvFiles {
				envs[name] = readEnvFile(t, filepath.Join(src, "env", name+".env"))
			}
			if errs := checkSystemdPaths(s, tmpl, dropIns, envs); len(errs) != 0 {
				t.Fatalf("the unbroken units fail: %v", errs)
			}
			c.break_(tmpl, dropIns, envs)
			errs := checkSystemdPaths(s, tmpl, dropIns, envs)
			switch {
			case c.want == "" && len(errs) != 0:
				t.Errorf("errors %v, want none", errs)
			case c.want != "" && !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }):
				t.Errorf("errors %v, want one containing %q", errs, c.want)
			}
		})
	}
}
