package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrPostgresNotFound is returned (wrapped) when no PostgreSQL server binaries
// can be found.
var ErrPostgresNotFound = errors.New("PostgreSQL server binaries not found (initdb, postgres): install the postgresql package or set NOVAFLOW_PG_BINDIR, or point NOVAFLOW_DATABASE_URL at a server")

// PostgresBinDir returns the directory holding the PostgreSQL server binaries
// initdb and postgres. It looks, in order, at the directory named by the
// environment variable NOVAFLOW_PG_BINDIR, at `pg_config --bindir`, at the
// highest version under /usr/lib/postgresql/*/bin (Debian and Ubuntu keep the
// server there, off PATH), and at PATH.
func PostgresBinDir() (string, error) {
	if dir := os.Getenv("NOVAFLOW_PG_BINDIR"); dir != "" {
		if !hasPostgresServer(dir) {
			return "", fmt.Errorf("NOVAFLOW_PG_BINDIR=%s does not hold initdb and postgres: %w", dir, ErrPostgresNotFound)
		}
		return dir, nil
	}
	if dir := pgConfigBinDir(); dir != "" && hasPostgresServer(dir) {
		return dir, nil
	}
	if dir := highestDebianBinDir(); dir != "" {
		return dir, nil
	}
	if initdb, err := exec.LookPath(exe("initdb")); err == nil {
		if dir := filepath.Dir(initdb); hasPostgresServer(dir) {
			return dir, nil
		}
	}
	return "", ErrPostgresNotFound
}

// pgConfigBinDir asks pg_config, if on PATH, where the binaries are.
func pgConfigBinDir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// highestDebianBinDir returns the /usr/lib/postgresql/<version>/bin with the
// highest version that holds the server binaries.
func highestDebianBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if hasPostgresServer(dir) {
			return dir
		}
	}
	return ""
}

// hasPostgresServer reports whether dir holds initdb and postgres.
func hasPostgresServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, exe(name)))
		if err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// exe adds the executable suffix of the platform to name.
func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
