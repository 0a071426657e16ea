package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

var updateGateMethods = flag.Bool("update-gate-methods", false, "write tools/temporal-server/gate/methods.json from the registered managers")

// TestGateMethods: the methods the Temporal server's gate knows
// (tools/temporal-server/gate/methods.json, embedded in
// novaflow-temporal-server, which cannot import the managers) are the
// RPCMethods of the managers this binary registers, with their Access and
// Object: a method added or changed without regenerating the file fails
// here. Regenerate with
//
//	go test ./cmd/novaflow -run TestGateMethods -update-gate-methods
func TestGateMethods(t *testing.T) {
	want := map[string]map[string]string{}
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		if def.Name != def.Topic || def.Methods == nil {
			continue
		}
		for _, m := range def.Methods() {
			e := map[string]string{}
			if m.Access != managers.AccessMutation {
				e["access"] = string(m.Access)
			}
			if m.Object != "" {
				e["object"] = m.Object
			}
			want[def.Topic+"."+m.Name] = e
		}
	}
	if len(want) == 0 {
		t.Fatal("no registered manager declares methods: the table would check nothing")
	}
	b, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("..", "..", "tools", "temporal-server", "gate", "methods.json")
	if *updateGateMethods {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("%s is not the registered managers' methods; regenerate it with\n  go test ./cmd/novaflow -run TestGateMethods -update-gate-methods\nwant:\n%s", path, b)
	}
}
