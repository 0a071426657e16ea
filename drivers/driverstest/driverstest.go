// Package driverstest checks, from a test, that the driver kinds of a source
// tree keep their contract: each kind (a package that calls
// drivers.NewRegistry) has a contract suite, a package <kind>test beside it
// with a func Run, and each implementation (a package that calls the kind's
// Register) runs that suite from its tests. A kind or a driver added without
// them fails the test:
//
//	func TestDriversRunTheirContractTests(t *testing.T) {
//		if _, err := driverstest.Check("."); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// It reads the source, so it sees every package of the tree, imported
// anywhere or not.
package driverstest

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// registryPath is the import path of the package whose NewRegistry makes a
// driver kind.
const registryPath = "github.com/novaflow/novaflow/drivers"

// Kind is a driver kind found by Check.
type Kind struct {
	// Path is the kind's import path (github.com/novaflow/novaflow/drivers/compute).
	Path string
	// Drivers are the import paths of its implementations in the tree, sorted.
	Drivers []string
}

// pkg is what Check needs of one directory's Go files.
type pkg struct {
	path      string
	name      string
	files     []*ast.File // not _test.go
	testFiles []*ast.File
}

// Check reads the Go packages under dir, a directory of a module (its
// go.mod is in dir or above), and returns the driver kinds it found, sorted
// by path, with an error naming each kind without a contract suite and each
// implementation that does not run its kind's suite.
func Check(dir string) ([]Kind, error) {
	root, module, err := findModule(dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := parseTree(dir, root, module)
	if err != nil {
		return nil, err
	}
	var kinds []Kind
	var errs []error
	for _, p := range pkgs {
		if !calls(p.files, registryPath, "NewRegistry") {
			continue
		}
		k := Kind{Path: p.path}
		suitePath := p.path + "/" + p.name + "test"
		suite := pkgs[suitePath]
		if suite == nil || !declaresFunc(suite.files, "Run") {
			errs = append(errs, fmt.Errorf("driver kind %s has no contract suite: want package %s with a func Run(t *testing.T, open ...)", p.path, suitePath))
		}
		for _, d := range pkgs {
			if d.path == suitePath || !calls(d.files, p.path, "Register") {
				continue
			}
			k.Drivers = append(k.Drivers, d.path)
			if !calls(d.testFiles, suitePath, "Run") {
				errs = append(errs, fmt.Errorf("%s driver %s does not run its contract tests: no test of it calls %stest.Run", p.name, d.path, p.name))
			}
		}
		slices.Sort(k.Drivers)
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b Kind) int { return strings.Compare(a.Path, b.Path) })
	return kinds, errors.Join(errs...)
}

// findModule returns the directory of the go.mod that holds dir, and its
// module path.
func findModule(dir string) (root, module string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					return d, strings.Trim(f[1], `"`), nil
				}
			}
			return "", "", fmt.Errorf("%s: no module line", filepath.Join(d, "go.mod"))
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("no go.mod in %s or above", abs)
		}
	}
}

// parseTree parses the Go files under dir, by import path.
func parseTree(dir, root, module string) (map[string]*pkg, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(abs, func(file string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := e.Name()
		if e.IsDir() {
			if file != abs && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(file))
		if err != nil {
			return err
		}
		p := path.Join(module, filepath.ToSlash(rel))
		if pkgs[p] == nil {
			pkgs[p] = &pkg{path: p}
		}
		switch {
		case strings.HasSuffix(name, "_test.go"):
			pkgs[p].testFiles = append(pkgs[p].testFiles, f)
		default:
			pkgs[p].name = f.Name.Name
			pkgs[p].files = append(pkgs[p].files, f)
		}
		return nil
	})
	return pkgs, err
}

// calls reports whether one of files calls the function fn of the package
// imported as importPath.
func calls(files []*ast.File, importPath, fn string) bool {
	for _, f := range files {
		local := importName(f, importPath)
		if local == "" {
			continue
		}
		found := false
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == fn {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
					found = true
				}
			}
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// importName is the name under which f imports importPath ("" when it does
// not).
func importName(f *ast.File, importPath string) string {
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil || p != importPath {
			continue
		}
		if spec.Name != nil {
			return spec.Name.Name
		}
		return path.Base(p)
	}
	return ""
}

// declaresFunc reports whether one of files declares the function name.
func declaresFunc(files []*ast.File, name string) bool {
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
				return true
			}
		}
	}
	return false
}
