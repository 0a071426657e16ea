package main

import (
	"flag"
	"os"
	"reflect"
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
	want := worker.MarkdownTable(allSettings(nil, nil))
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

// TestConfigurationDocsDefaults reads the default column of
// docs/configuration.md for the runtime's settings: with those values and
// nothing else, the settings are worker.DefaultConfig() (whose test in
// package worker ties it to the default tags).
func TestConfigurationDocsDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	runtime := map[string]bool{}
	for _, s := range worker.Settings(&worker.Config{}) {
		runtime[s.Name] = true
	}
	env := worker.Env{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 3 {
			continue
		}
		name := strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")
		if def := cells[1]; runtime[name] && def != "(none)" {
			env[name] = strings.Trim(def, "`")
		}
	}
	if len(env) < 10 {
		t.Fatalf("found %d defaults of runtime settings in the docs' table", len(env))
	}
	var got worker.Config
	if err := env.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := worker.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("settings with the docs' defaults:\n%+v\nworker.DefaultConfig():\n%+v", got, want)
	}
}
