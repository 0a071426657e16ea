//go:build linux

package process

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
)

// FuzzCommandPolicy checks any program name against the driver's command
// policy: no panic; an absolute path always passes the check; a relative
// path with a slash never does; a bare name only with AllowRelativeCommands;
// a refusal is an *InvalidError naming command[0]; and a name looked up in
// PATH resolves to an absolute path, never to one relative to the compute
// service's directory.
func FuzzCommandPolicy(f *testing.F) {
	for _, s := range []string{"/bin/sleep", "sleep", "./sleep", "bin/sleep", "..", "", "/", "sl eep", "/nonexistent", "true"} {
		f.Add(s, "PATH=/usr/bin:/bin", false)
		f.Add(s, "PATH=bin:.:/bin", true)
	}
	f.Fuzz(func(t *testing.T, name, path string, allow bool) {
		env := instanceEnv(strings.Split(path, "\x00"))
		err := checkProgram(name, env, allow)
		switch {
		case filepath.IsAbs(name):
			if err != nil {
				t.Fatalf("checkProgram(%q) refused an absolute path: %v", name, err)
			}
		case strings.Contains(name, "/") || !allow:
			var ie *compute.InvalidError
			if !errors.As(err, &ie) || ie.Field != "command[0]" {
				t.Fatalf("checkProgram(%q, allow=%v) = %v, want an *InvalidError for command[0]", name, allow, err)
			}
		case err != nil:
			t.Fatalf("checkProgram(%q) refused a bare name with AllowRelativeCommands: %v", name, err)
		}
		if p, err := lookPath(name, env); err == nil && !filepath.IsAbs(p) {
			t.Fatalf("lookPath(%q, %q) = %q, not absolute", name, env, p)
		}
	})
}
