package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/worker"
)

var update = flag.Bool("update", false, "rewrite the generated parts of the docs")

// TestConfigurationDocs keeps the settings table of docs/configuration.md equal
// to the settings structs: a setting added, renamed or given a new default
// without the docs fails here.
func TestConfigurationDocs(t *testing.T) {
	const path = "../../docs/configuration.md"
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: markers %q and %q not found", path, begin, end)
	}
	want := worker.MarkdownTable(allSettings(nil))
	got := doc[i+len(begin) : j]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the settings structs; run: go test ./cmd/novaflow -run TestConfigurationDocs -update\nwant:\n%s\ngot:\n%s", path, want, got)
}
