package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestBuildVersion: the version comes from -X main.version when a release
// build sets it, else from the module version Go stamps; the revision, its
// time and the modified flag from the VCS stamp, else from -X main.revision.
func TestBuildVersion(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/novaflow/novaflow", Version: "v0.0.0-20261203161825-97d95cde79a7+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "97d95cde79a7b55c694af987797a7cd8a1c28625"},
			{Key: "vcs.time", Value: "2026-12-03T16:18:25Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	bare := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/novaflow/novaflow", Version: "(devel)"}}
	for _, c := range []struct {
		name             string
		bi               *debug.BuildInfo
		linked, linkedRv string
		want             versionInfo
	}{
		{"VCS stamp", stamped, "", "", versionInfo{Version: "v0.0.0-20261203161825-97d95cde79a7+dirty", Revision: "97d95cde79a7b55c694af987797a7cd8a1c28625", Time: "2026-12-03T16:18:25Z", Modified: true}},
		{"release over stamp", stamped, "v1.2.0", "ffff", versionInfo{Version: "v1.2.0", Revision: "97d95cde79a7b55c694af987797a7cd8a1c28625", Time: "2026-12-03T16:18:25Z", Modified: true}},
		{"image build", bare, " v1.2.0\n", "0123abcd", versionInfo{Version: "v1.2.0", Revision: "0123abcd"}},
		{"nothing known", bare, "", "", versionInfo{Version: develVersion}},
		{"no build info", nil, "", "", versionInfo{Version: develVersion}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := buildVersion(c.bi, c.linked, c.linkedRv)
			if got.Version != c.want.Version || got.Revision != c.want.Revision || got.Time != c.want.Time || got.Modified != c.want.Modified {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if got.Go == "" || got.Platform == "" || len(got.Managers) == 0 {
				t.Errorf("incomplete: %+v", got)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, errOut := run(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if v.Version == "" || len(v.Managers) == 0 || v.Managers[0].ServiceVersion < 1 {
		t.Errorf("version -o json: %+v", v)
	}
	if code, _, errOut = run(t, "version", "-o", "yaml"); code == 0 || !strings.Contains(errOut, "--output") {
		t.Errorf("version -o yaml: exit %d, %q", code, errOut)
	}
}

// TestVersionLinked builds the binary as the image does (no VCS stamp, the
// version and revision given with -ldflags -X) and runs `novaflow version`:
// it reports them, not (devel).
func TestVersionLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "novaflow")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-X main.version=v1.2.3-test -X main.revision=0123456789abcdef", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "novaflow v1.2.3-test\n  revision 0123456789abcdef\n") {
		t.Errorf("novaflow version:\n%s", out)
	}
}
