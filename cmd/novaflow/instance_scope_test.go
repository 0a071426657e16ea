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

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// TestInstanceListScope: with NOVAFLOW_AUTH on and a NOVAFLOW_TOKEN, novaflow
// instance list and show, which read the instances table directly, show a
// member its project's instances only (another project's is NotFound), as
// nova's API does; an admin, or a command without a token (the database's
// credentials are admin-equivalent), sees every project's; a token that does
// not verify is refused. The shell completion of instance IDs offers each of
// them exactly what instance list shows them.
func TestInstanceListScope(t *testing.T) {
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
	defer pool.Close()
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	if err := worker.Migrate(ctx, pool, defs...); err != nil {
		t.Fatal(err)
	}
	a, b := uuid.NewString(), uuid.NewString()
	if _, err := store.New(pool).CreateInstances(ctx, "req-scope", []store.NewInstance{
		{UUID: a, Name: "a", Flavor: compute.Flavor{Name: "tiny", VCPUs: 1, MemoryMB: 64}, Image: store.Image{Command: []string{"/bin/true"}}, ProjectID: "project-a", UserID: "alice"},
		{UUID: b, Name: "b", Flavor: compute.Flavor{Name: "tiny", VCPUs: 1, MemoryMB: 64}, Image: store.Image{Command: []string{"/bin/true"}}, ProjectID: "project-b", UserID: "bob"},
	}); err != nil {
		t.Fatal(err)
	}
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	token := func(cl auth.Claims) string {
		cl.Issuer, cl.Audience, cl.TTL = "https://issuer.test", "novaflow", time.Hour
		tok, err := auth.Issue(key, cl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	t.Chdir(t.TempDir())
	t.Setenv("NOVAFLOW_DATABASE_URL", dbURL)
	t.Setenv("NOVAFLOW_AUTH", "true")
	t.Setenv("NOVAFLOW_AUTH_JWKS", jwks)
	t.Setenv("NOVAFLOW_AUTH_ISSUER", "https://issuer.test")

	run := func(tok string, args ...string) (int, string, string) {
		t.Setenv("NOVAFLOW_TOKEN", tok)
		var stdout, stderr bytes.Buffer
		code := execute(append([]string{"novaflow"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
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
	// completed is what the shell completion of an instance ID offers: the
	// candidates of __complete (one per line, "ID\tdescription"), before its
	// ":directive" line.
	completed := func(name, tok string, args ...string) map[string]bool {
		code, out, errOut := run(tok, append([]string{"__complete"}, args...)...)
		if code != 0 {
			t.Fatalf("__complete %v as %s: exit %d %s", args, name, code, errOut)
		}
		seen := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if id, _, _ := strings.Cut(line, "\t"); id != "" && !strings.HasPrefix(id, ":") {
				seen[id] = true
			}
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
