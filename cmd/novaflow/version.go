package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
)

// version and revision are set at link time by release builds (the image's
// Dockerfile sets them from its build arguments):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.revision=$(git rev-parse HEAD)" ./cmd/novaflow
//
// Left empty, they come from the binary's build information: the module
// version Go stamps (a tag, or a pseudo-version from the VCS), and the VCS
// revision.
var version, revision string

// develVersion is the version of a build that knows none: go run, go test,
// a build without VCS information nor -X main.version.
const develVersion = "(devel)"

// versionInfo is what `novaflow version` prints.
type versionInfo struct {
	// Version is the release version, or Go's module version of the build.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, when known.
	Revision string `json:"revision,omitempty"`
	// Time is the commit's time (RFC 3339), when known.
	Time string `json:"time,omitempty"`
	// Modified says the binary was built from a tree with uncommitted
	// changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Managers are the topics' service versions.
	Managers []managerVersion `json:"managers"`
}

type managerVersion struct {
	Name           string `json:"name"`
	Topic          string `json:"topic"`
	ServiceVersion int    `json:"service_version"`
}

// buildVersion is the version of a binary linked with version and revision
// (the -X variables) and built as bi says (nil: no build information).
func buildVersion(bi *debug.BuildInfo, linkedVersion, linkedRevision string) versionInfo {
	v := versionInfo{Version: develVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if linkedVersion = strings.TrimSpace(linkedVersion); linkedVersion != "" {
		v.Version = linkedVersion
	}
	if linkedRevision = strings.TrimSpace(linkedRevision); linkedRevision != "" && v.Revision == "" {
		v.Revision = linkedRevision
	}
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		v.Managers = append(v.Managers, managerVersion{Name: def.Name, Topic: def.Topic, ServiceVersion: def.Version})
	}
	return v
}

// currentVersion is this binary's version.
func currentVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return buildVersion(bi, version, revision)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print novaflow's version, the commit it was built from and each topic's service version",
		Example: `  novaflow version
  novaflow --version
  novaflow version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runVersion(cmd) },
	}
}

// runVersion prints the version: `novaflow version` and `novaflow
// --version`, in the command's output format.
func runVersion(cmd *cobra.Command) error {
	v := currentVersion()
	return render(cmd, v, func(out io.Writer, _ outputOpts) error {
		fmt.Fprintf(out, "novaflow %s\n", v.Version)
		if v.Revision != "" {
			line := "  revision " + v.Revision
			if v.Modified {
				line += " (modified)"
			}
			if v.Time != "" {
				line += " of " + v.Time
			}
			fmt.Fprintln(out, line)
		}
		fmt.Fprintf(out, "  built with %s for %s\n", v.Go, v.Platform)
		for _, m := range v.Managers {
			fmt.Fprintf(out, "  manager %-12s topic %-12s service version %d\n", m.Name, m.Topic, m.ServiceVersion)
		}
		return nil
	})
}
