package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// scopeEnv is a database with every manager's schema and a local issuer,
// with NOVAFLOW_AUTH on, for the commands that read the tables directly.
type scopeEnv struct {
	t    *testing.T
	pool *pgxpool.Pool
	key  string
}

func newScopeEnv(t *testing.T) *scopeEnv {
	ctx := context.Background()
	for _, k := range []string{"DATABASE_URL", "NOVAFLOW_CONFIG_FILE", "NOVAFLOW_TOKEN", "NOVAFLOW_TOKEN_FILE", "NOVAFLOW_AUTH_POLICY_FILE",
		"NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dbURL := testenv.Postgres(t)
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	if err := worker.Migrate(ctx, pool, defs...); err != nil {
		t.Fatal(err)
	}
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	t.Setenv("NOVAFLOW_DATABASE_URL", dbURL)
	t.Setenv("NOVAFLOW_AUTH", "true")
	t.Setenv("NOVAFLOW_AUTH_JWKS", jwks)
	t.Setenv("NOVAFLOW_AUTH_ISSUER", "https://issuer.test")
	return &scopeEnv{t: t, pool: pool, key: key}
}

// token is a token of the local issuer with cl's claims.
func (e *scopeEnv) token(cl auth.Claims) string {
	cl.Issuer, cl.Audience, cl.TTL = "https://issuer.test", "novaflow", time.Hour
	tok, err := auth.Issue(e.key, cl)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// run runs novaflow with NOVAFLOW_TOKEN=tok.
func (e *scopeEnv) run(tok string, args ...string) (int, string, string) {
	e.t.Setenv("NOVAFLOW_TOKEN", tok)
	var stdout, stderr bytes.Buffer
	code := execute(append([]string{"novaflow"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// completed is what the shell completion offers: the candidates of
// __complete (one per line, "value\tdescription"), before its
// ":directive" line.
func (e *scopeEnv) completed(name, tok string, args ...string) map[string]bool {
	e.t.Helper()
	code, out, errOut := e.run(tok, append([]string{"__complete"}, args...)...)
	if code != 0 {
		e.t.Fatalf("__complete %v as %s: exit %d %s", args, name, code, errOut)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if v, _, _ := strings.Cut(line, "\t"); v != "" && !strings.HasPrefix(v, ":") {
			seen[v] = true
		}
	}
	return seen
}

// TestInstanceListScope: with NOVAFLOW_AUTH on and a NOVAFLOW_TOKEN, novaflow
// instance list and show, which read the instances table directly, show a
// member its project's instances only (another project's is NotFound), as
// nova's API does; an admin, or a command without a token (the database's
// credentials are admin-equivalent), sees every project's; a token that does
// not verify is refused. The shell completion of instance IDs offers each of
// them exactly what instance list shows them.
func TestInstanceListScope(t *testing.T) {
	ctx := context.Background()
	e := newScopeEnv(t)
	a, b := uuid.NewString(), uuid.NewString()
	if _, err := store.New(e.pool).CreateInstances(ctx, "req-scope", []store.NewInstance{
		{UUID: a, Name: "a", Flavor: compute.Flavor{Name: "tiny", VCPUs: 1, MemoryMB: 64}, Image: store.Image{Command: []string{"/bin/true"}}, ProjectID: "project-a", UserID: "alice"},
		{UUID: b, Name: "b", Flavor: compute.Flavor{Name: "tiny", VCPUs: 1, MemoryMB: 64}, Image: store.Image{Command: []string{"/bin/true"}}, ProjectID: "project-b", UserID: "bob"},
	}); err != nil {
		t.Fatal(err)
	}
	run, completed, token := e.run, e.completed, e.token
	listed := func(name, tok string) map[string]bool {
		code, out, errOut := run(tok, "instance", "list", "-o", "json")
		if code != 0 {
			t.Fatalf("instance list as %s: exit %d %s", name, code, errOut)
		}
		var insts []store.Instance
		if err := json.Unmarshal([]byte(out), &insts); err != nil {
			t.Fatalf("instance list as %s: %v\n%s", name, err, out)
		}
		seen := map[string]bool{}
		for _, i := range insts {
			seen[i.UUID] = true
		}
		return seen
	}
	sameAsList := func(name, tok string) {
		t.Helper()
		want := listed(name, tok)
		for _, args := range [][]string{{"instance", "show", ""}, {"instance", "delete", ""},
			{"volume", "attach", uuid.NewString(), ""}, {"volume", "list", "--instance", ""}} {
			if got := completed(name, tok, args...); !maps.Equal(got, want) {
				t.Errorf("%s: completion of %q offers %v, want what instance list shows: %v", name, strings.Join(args, " "), got, want)
			}
		}
	}
	alice := token(auth.Claims{Subject: "alice", ProjectID: "project-a", Roles: []string{"member"}})
	if seen := listed("alice", alice); !seen[a] || seen[b] || len(seen) != 1 {
		t.Errorf("alice (project-a) lists %v, want her instance %s only", seen, a)
	}
	sameAsList("alice", alice)
	bob := token(auth.Claims{Subject: "bob", ProjectID: "project-b", Roles: []string{"member"}})
	sameAsList("bob", bob)
	nobody := token(auth.Claims{Subject: "carol", Roles: []string{"member"}})
	if seen := listed("a token without a project", nobody); len(seen) != 0 {
		t.Errorf("a token without a project lists %v, want none", seen)
	}
	sameAsList("a token without a project", nobody)
	admin := token(auth.Claims{Subject: "root", ProjectID: "ops", Roles: []string{"admin"}})
	for name, tok := range map[string]string{"an admin": admin, "no token": ""} {
		if seen := listed(name, tok); !seen[a] || !seen[b] {
			t.Errorf("%s lists %v, want both projects' instances", name, seen)
		}
		sameAsList(name, tok)
	}
	// A wait's progress line reads the rows as list does: alice waiting on
	// project-b's instance (which compute refuses) is shown nothing of it.
	progress := func(tok, id string) string {
		t.Helper()
		t.Setenv("NOVAFLOW_TOKEN", tok)
		c, err := openConn()
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		return instanceProgress(id)(c)(ctx)
	}
	if got := progress(alice, b); got != "starting" {
		t.Errorf("alice's wait on project-b's instance shows %q, want %q", got, "starting")
	}
	if got := progress(alice, a); !strings.HasPrefix(got, "a ") {
		t.Errorf("alice's wait on her instance shows %q, want its name and state", got)
	}
	if got := completed("a garbage token", "x.y.z", "instance", "show", ""); len(got) != 0 {
		t.Errorf("completion with a garbage token offers %v, want nothing", got)
	}
	if code, _, errOut := run(alice, "instance", "show", b); code != 3 || !bytes.Contains([]byte(errOut), []byte(managers.NotFoundType)) {
		t.Errorf("alice's show of project-b's instance: exit %d %s, want 3 and NotFound", code, errOut)
	}
	if code, out, errOut := run(alice, "instance", "show", a, "-o", "json"); code != 0 || !bytes.Contains([]byte(out), []byte(a)) {
		t.Errorf("alice's show of her instance: exit %d %s%s", code, out, errOut)
	}
	if code, _, errOut := run(admin, "instance", "show", b); code != 0 {
		t.Errorf("the admin's show of project-b's instance: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("x.y.z", "instance", "list"); code != 3 || !bytes.Contains([]byte(errOut), []byte(policy.UnauthenticatedType)) {
		t.Errorf("instance list with a garbage token: exit %d %s, want 3 and Unauthenticated", code, errOut)
	}
}

// TestHostListScope: with NOVAFLOW_AUTH on and a NOVAFLOW_TOKEN, host list
// and show and the service commands, which read compute_nodes and the
// services table directly, are for admins (policy.AdminRule), as nova's
// os-hypervisors and os-services are by default: a member of a project is
// refused with PolicyDenied naming the rule, an admin, a service identity
// and a command without a token see every host. The shell completion of host
// names (host show, the --host flags, the service commands' HOST and
// BINARY) offers each of them exactly what the list commands show them:
// nothing to a member, nor for a token that does not verify.
func TestHostListScope(t *testing.T) {
	ctx := context.Background()
	e := newScopeEnv(t)
	for _, h := range []string{"node1", "node2"} {
		if _, err := store.New(e.pool).UpdateNode(ctx, h, compute.Resources{VCPUs: 4, MemoryMB: 1024, DiskGB: 10}); err != nil {
			t.Fatal(err)
		}
		if _, err := servicegroup.NewStore(e.pool).Register(ctx, h, "novaflow-compute", "compute", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := servicegroup.NewStore(e.pool).Register(ctx, "ctl1", "novaflow-conductor", "conductor", 1, ""); err != nil {
		t.Fatal(err)
	}
	// hostsOf is the host field of a list command's JSON rows; nil when
	// it refuses.
	hostsOf := func(name, tok string, args ...string) map[string]bool {
		t.Helper()
		code, out, errOut := e.run(tok, append(args, "-o", "json")...)
		if code != 0 {
			return nil
		}
		var rows []struct{ Host string }
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v as %s: %v\n%s%s", args, name, err, out, errOut)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.Host] = true
		}
		return seen
	}
	// sameAsList checks each completion of a host against the list command
	// that shows those hosts (none when it refuses).
	sameAsList := func(name, tok string) {
		t.Helper()
		nodes, services := hostsOf(name, tok, "host", "list"), hostsOf(name, tok, "service", "list")
		if nodes == nil {
			nodes = map[string]bool{}
		}
		if services == nil {
			services = map[string]bool{}
		}
		for _, c := range []struct {
			args []string
			want map[string]bool
		}{
			{[]string{"host", "show", ""}, nodes},
			{[]string{"service", "list", "--host", ""}, services},
			{[]string{"instance", "list", "--host", ""}, services},
			{[]string{"volume", "create", "--host", ""}, services},
			{[]string{"service", "force-down", ""}, services},
		} {
			if got := e.completed(name, tok, c.args...); !maps.Equal(got, c.want) {
				t.Errorf("%s: completion of %q offers %v, want what the list shows: %v", name, strings.Join(c.args, " "), got, c.want)
			}
		}
		var binaries map[string]bool
		if len(services) > 0 {
			binaries = map[string]bool{"novaflow-compute": true}
		}
		if got := e.completed(name, tok, "service", "disable", "node1", ""); !maps.Equal(got, binaries) {
			t.Errorf("%s: completion of the binaries of node1 offers %v, want %v", name, got, binaries)
		}
	}

	alice := e.token(auth.Claims{Subject: "alice", ProjectID: "project-a", Roles: []string{"member"}})
	reader := e.token(auth.Claims{Subject: "rita", ProjectID: "project-a", Roles: []string{"reader"}})
	for name, tok := range map[string]string{"a member": alice, "a reader": reader} {
		for _, args := range [][]string{{"host", "list"}, {"host", "show", "node1"}, {"service", "list"}, {"service", "disable", "node1", "compute"}} {
			code, _, errOut := e.run(tok, args...)
			if code != 3 || !strings.Contains(errOut, policy.DeniedType) || !strings.Contains(errOut, policy.AdminRule) {
				t.Errorf("%s's %s: exit %d %s, want 3 and PolicyDenied naming %s", name, strings.Join(args, " "), code, errOut, policy.AdminRule)
			}
		}
		sameAsList(name, tok)
	}
	admin := e.token(auth.Claims{Subject: "root", ProjectID: "ops", Roles: []string{"admin"}})
	service := e.token(auth.Claims{Subject: "compute", Roles: []string{"service"}})
	for name, tok := range map[string]string{"an admin": admin, "a service": service, "no token": ""} {
		if got := hostsOf(name, tok, "host", "list"); !maps.Equal(got, map[string]bool{"node1": true, "node2": true}) {
			t.Errorf("%s: host list shows %v, want node1 and node2", name, got)
		}
		if got := hostsOf(name, tok, "service", "list"); !maps.Equal(got, map[string]bool{"node1": true, "node2": true, "ctl1": true}) {
			t.Errorf("%s: service list shows %v, want node1, node2 and ctl1", name, got)
		}
		sameAsList(name, tok)
	}
	if code, _, errOut := e.run("x.y.z", "host", "list"); code != 3 || !strings.Contains(errOut, policy.UnauthenticatedType) {
		t.Errorf("host list with a garbage token: exit %d %s, want 3 and Unauthenticated", code, errOut)
	}
	for _, args := range [][]string{{"host", "show", ""}, {"service", "list", "--host", ""}} {
		if got := e.completed("a garbage token", "x.y.z", args...); len(got) != 0 {
			t.Errorf("completion of %q with a garbage token offers %v, want nothing", strings.Join(args, " "), got)
		}
	}
}
