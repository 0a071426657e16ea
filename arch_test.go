package novaflow_test

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The dependency rules between novaflow's parts (docs/architecture.md, "Rules
// between the parts"), checked on the imports of the module's packages, test
// files left out: a rule broken by a change fails here.

const module = "github.com/novaflow/novaflow"

// framework are the packages of the runtime and its public API that a user's
// control plane builds on: they never name the reference control plane.
var framework = []string{"worker", "workflows", "rpc", "activities", "servicegroup", "telemetry", "managers", "drivers", "registry", "keylock", "codec", "policy", "auth"}

// internalAllowed are imports of internal packages by the reference control
// plane that are known and to be removed ("managers/x -> internal/y"), each
// with a TODO saying by what; none today.
var internalAllowed = map[string]string{}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// listPackages returns the module's packages with their imports (without
// test files) and all their dependencies, by import path relative to the
// module ("worker", "managers/compute").
func listPackages(t *testing.T) map[string]listedPackage {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-json=ImportPath,Dir,GoFiles,Imports,Deps", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		pkgs[rel] = p
	}
	for _, name := range append(slices.Clone(framework), "managers/compute", "managers/volume", "drivers/compute") {
		if _, ok := pkgs[name]; !ok {
			t.Fatalf("go list did not list package %s: the rules below would check nothing", name)
		}
	}
	return pkgs
}

// relative returns path relative to the module, and whether it is in it.
func relative(path string) (string, bool) {
	if path == module {
		return "", true
	}
	return strings.CutPrefix(path, module+"/")
}

// within reports whether rel is dir or a package under it.
func within(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// frameworkHelpers are framework packages under managers/ and drivers/ that
// are no manager or driver kind: test helpers for any of them.
var frameworkHelpers = []string{"managers/managertest", "drivers/driverstest"}

// reference reports whether rel is a package of the reference control plane:
// a manager (managers/<topic>/...) or a driver kind or driver
// (drivers/<kind>/...).
func reference(rel string) bool {
	if slices.ContainsFunc(frameworkHelpers, func(h string) bool { return within(rel, h) }) {
		return false
	}
	return strings.HasPrefix(rel, "managers/") || strings.HasPrefix(rel, "drivers/")
}

func TestFrameworkImportsNoReferenceControlPlane(t *testing.T) {
	pkgs := listPackages(t)
	for _, name := range append(slices.Clone(framework), frameworkHelpers...) {
		for _, dep := range pkgs[name].Deps { // a helper not (yet) in the module has none
			if rel, ok := relative(dep); ok && reference(rel) {
				t.Errorf("%s depends on %s: the framework must not know the reference control plane (managers/<topic>, drivers/<kind>)", name, rel)
			}
		}
	}
}

func TestWorkflowsImportNeitherManagersNorDatabase(t *testing.T) {
	pkgs := listPackages(t)
	for _, dep := range pkgs["workflows"].Deps {
		rel, ok := relative(dep)
		if (ok && (within(rel, "managers") || within(rel, "activities") || within(rel, "internal"))) || strings.HasPrefix(dep, "github.com/jackc/pgx") {
			t.Errorf("workflows depends on %s: workflow code touches no database and knows no manager", dep)
		}
	}
}

func TestDriversKnowNoManagersRuntimeOrDatabase(t *testing.T) {
	pkgs := listPackages(t)
	for name, p := range pkgs {
		if !within(name, "drivers") {
			continue
		}
		for _, dep := range p.Deps {
			rel, ok := relative(dep)
			if ok && (within(rel, "managers") || within(rel, "worker") || within(rel, "internal/db")) {
				t.Errorf("%s depends on %s: a driver knows nothing of managers, the runtime or the database", name, rel)
			}
		}
	}
}

// TestServicesUseOnlyThePublicAPI: the reference control plane and the
// examples (examples/dns, the tutorial's service) import no internal
// package, as a service of another module cannot.
func TestServicesUseOnlyThePublicAPI(t *testing.T) {
	pkgs := listPackages(t)
	if _, ok := pkgs["examples/dns/managers/dns"]; !ok {
		t.Fatal("go list did not list examples/dns/managers/dns")
	}
	used := map[string]bool{}
	for name, p := range pkgs {
		if !reference(name) && !within(name, "examples") {
			continue
		}
		for _, imp := range p.Imports {
			rel, ok := relative(imp)
			if !ok || !within(rel, "internal") {
				continue
			}
			if _, allowed := internalAllowed[name+" -> "+rel]; allowed {
				used[name+" -> "+rel] = true
				continue
			}
			t.Errorf("%s imports %s: a service needs only novaflow's public API", name, rel)
		}
	}
	for imp := range internalAllowed {
		if !used[imp] {
			t.Errorf("internalAllowed lists %s, which is gone: remove it", imp)
		}
	}
}

// referenceTopics are the topics of the reference control plane.
var referenceTopics = []string{"compute", "scheduler", "conductor", "volume"}

func TestFrameworkNamesNoReferenceTopic(t *testing.T) {
	pkgs := listPackages(t)
	for _, name := range framework {
		p := pkgs[name]
		for _, file := range p.GoFiles {
			path := filepath.Join(p.Dir, file)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				for _, topic := range referenceTopics {
					if v == topic || strings.HasPrefix(v, topic+".") {
						t.Errorf("%s/%s names the reference topic %q: the framework must work for any topic", name, file, v)
					}
				}
				return true
			})
		}
	}
}

// environmentReadsAllowed are the files of the framework that may read the
// process's environment, each with why; cmd reads it and passes it down
// (worker.Env) everywhere else.
var environmentReadsAllowed = map[string]string{
	"telemetry/sdkenv.go": "the OTEL_* variables the OpenTelemetry SDK reads itself from the process's environment",
}

// TestFrameworkReadsNoEnvironment: no framework package calls os.Getenv,
// os.LookupEnv or os.Environ (docs/architecture.md): settings come from the
// environment cmd was given, so that NOVAFLOW_CONFIG_FILE, a dev stack's
// settings and SIGHUP's re-read apply alike.
func TestFrameworkReadsNoEnvironment(t *testing.T) {
	pkgs := listPackages(t)
	used := map[string]bool{}
	for name, p := range pkgs {
		if reference(name) || !slices.ContainsFunc(append(slices.Clone(framework), frameworkHelpers...), func(f string) bool { return within(name, f) }) {
			continue
		}
		for _, file := range p.GoFiles {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, file), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "os" || !slices.Contains([]string{"Getenv", "LookupEnv", "Environ"}, sel.Sel.Name) {
					return true
				}
				rel := name + "/" + file
				if _, ok := environmentReadsAllowed[rel]; ok {
					used[rel] = true
					return true
				}
				t.Errorf("%s reads the process's environment (os.%s): take the setting from what cmd passes down (worker.Env, a Config field)", rel, sel.Sel.Name)
				return true
			})
		}
	}
	for file := range environmentReadsAllowed {
		if !used[file] {
			t.Errorf("environmentReadsAllowed lists %s, which reads no environment: remove it", file)
		}
	}
}
