package validate

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// latestSchemaVersion is the highest vMAJOR.MINOR folder of a versioned
// schema directory: the version update-schema brings a database to.
func latestSchemaVersion(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	best, bestMajor, bestMinor := "", -1, -1
	for _, e := range entries {
		major, minor, ok := strings.Cut(strings.TrimPrefix(e.Name(), "v"), ".")
		ma, err1 := strconv.Atoi(major)
		mi, err2 := strconv.Atoi(minor)
		if !e.IsDir() || !ok || err1 != nil || err2 != nil {
			continue
		}
		if ma > bestMajor || ma == bestMajor && mi > bestMinor {
			best, bestMajor, bestMinor = fmt.Sprintf("%d.%d", ma, mi), ma, mi
		}
	}
	if best == "" {
		t.Fatalf("%s: no versioned schema", dir)
	}
	return best
}

// TestComposeTemporalSchemaScript runs the compose file's Temporal schema
// step for real: its script, as its entrypoint runs it (sh -ec), with its
// SQL_* settings pointed at a PostgreSQL of the test and the
// temporal-sql-tool of the pinned server (the one temporalio/admin-tools of
// that version ships), twice. The databases get the names of the test's own
// (the script's names, temporal and temporal_visibility, are shared on the
// test's PostgreSQL cluster); nothing else of the script changes. It shows
// that the steps work and are idempotent, and that both databases end at
// the server's schema version. The images themselves are not run: there is
// no Docker engine here.
func TestComposeTemporalSchemaScript(t *testing.T) {
	f, _ := loadCompose(t)
	svc, ok := f.Services["temporal-schema"]
	if !ok || len(svc.Command) != 1 || len(svc.Entrypoint) == 0 {
		t.Fatalf("compose.yaml: no temporal-schema service with one script (%+v)", svc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tools, err := devstack.BuildTemporalServer(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(tools.SQLTool, filepath.Join(bin, "temporal-sql-tool")); err != nil {
		t.Fatal(err)
	}

	pg, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(pg.Path, "/")
	dbs := map[string]string{"temporal": name + "_t", "temporal_visibility": name + "_tv"}
	script := svc.Command[0]
	for from, to := range map[string]string{"--db temporal_visibility ": "--db " + dbs["temporal_visibility"] + " ", "--db temporal ": "--db " + dbs["temporal"] + " "} {
		if !strings.Contains(script, from) {
			t.Fatalf("temporal-schema: the script has no %q", from)
		}
		script = strings.ReplaceAll(script, from, to)
	}
	t.Cleanup(func() {
		for _, db := range dbs {
			if err := execSQL(pg.String(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Errorf("dropping %s: %v", db, err)
			}
		}
	})

	password, _ := pg.User.Password()
	env := map[string]string{}
	for k, v := range svc.Environment {
		env[k] = v
	}
	// The compose file's settings, on the test's server.
	env["SQL_HOST"], env["SQL_PORT"], env["SQL_USER"], env["SQL_PASSWORD"] = pg.Hostname(), cmpOr(pg.Port(), "5432"), pg.User.Username(), password
	if env["SQL_PLUGIN"] != "postgres12" {
		t.Fatalf("temporal-schema: SQL_PLUGIN %q", env["SQL_PLUGIN"])
	}
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, svc.Entrypoint[0], append(svc.Entrypoint[1:], script)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %d of the temporal-schema script: %v\n%s", run, err, out)
		}
	}
	for db, schema := range map[string]string{dbs["temporal"]: "temporal", dbs["temporal_visibility"]: "visibility"} {
		want := latestSchemaVersion(t, filepath.Join(tools.SchemaDir, schema, "versioned"))
		u := *pg
		u.Path = "/" + db
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, "SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1", db).Scan(&got)
		conn.Close(context.Background())
		if err != nil || got != want {
			t.Errorf("%s (%s): schema version %q (%v), want %s, the server's", db, schema, got, err, want)
		}
	}
}

// execSQL runs one statement on a new connection.
func execSQL(dbURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
