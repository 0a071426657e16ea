package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

func TestMain(m *testing.M) {
	if code, ok := runHelper(); ok {
		os.Exit(code)
	}
	testenv.Main(m)
}

// run runs the novaflow command line in-process and returns its exit code,
// stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(append([]string{"novaflow"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// adminEnv points the command at a fresh, migrated database holding the rows
// of three services; h2's compute is reported up, h1's was never. h2's
// compute registered with build ID build-h2, the others with none.
func adminEnv(t *testing.T) *servicegroup.Store {
	t.Helper()
	url := testenv.Postgres(t)
	t.Setenv("NOVAFLOW_DATABASE_URL", url)
	t.Setenv("NOVAFLOW_TEMPORAL_ADDRESS", testenv.Temporal(t).Address())
	ctx := context.Background()
	pool, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		t.Fatal(err)
	}
	store := servicegroup.NewStore(pool)
	for _, s := range []struct{ host, binary, topic string }{
		{"h1", "novaflow-compute", "compute"}, {"h2", "novaflow-compute", "compute"}, {"h1", "novaflow-scheduler", "scheduler"},
	} {
		build := ""
		if s.host == "h2" {
			build = "build-h2"
		}
		if _, err := store.Register(ctx, s.host, s.binary, s.topic, 3, build); err != nil {
			t.Fatal(err)
		}
	}
	// h1's rows look a minute old and never seen, so they are down by the 25 s rule.
	if _, err := pool.Exec(ctx, `UPDATE services SET created_at = now() - interval '1 minute', last_seen_up = NULL WHERE host = 'h1'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Report(ctx, "h2", "novaflow-compute", "compute", 3, "build-h2"); err != nil {
		t.Fatal(err)
	}
	return store
}

type listed struct {
	Host, Binary, Topic, Status, State string
	ForcedDown                         bool   `json:"forced_down"`
	DisabledReason                     string `json:"disabled_reason"`
	Version                            int
	BuildID                            *string `json:"build_id"`
}

func listJSON(t *testing.T, args ...string) map[string]listed {
	t.Helper()
	code, out, errOut := run(t, append([]string{"service", "list", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("service list: exit %d: %s", code, errOut)
	}
	var rows []listed
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("service list --json: %v\n%s", err, out)
	}
	m := map[string]listed{}
	for _, r := range rows {
		m[r.Host+"/"+r.Binary] = r
	}
	return m
}

// tableColumn reads the column named name of service list's table: the
// value under its header, by host/binary.
func tableColumn(t *testing.T, table, name string) map[string]string {
	t.Helper()
	lines := strings.Split(table, "\n")
	at := strings.Index(lines[0], "  "+name+"  ")
	if at < 0 {
		t.Fatalf("no column %s in\n%s", name, table)
	}
	at += 2
	got := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || len(l) <= at {
			continue
		}
		v, _, _ := strings.Cut(l[at:], " ")
		got[f[2]+"/"+f[1]] = v
	}
	return got
}

func TestServiceCommands(t *testing.T) {
	adminEnv(t)

	rows := listJSON(t)
	if len(rows) != 3 {
		t.Fatalf("list: %+v", rows)
	}
	if r := rows["h2/novaflow-compute"]; r.State != "up" || r.Status != "enabled" || r.Version != 3 {
		t.Fatalf("h2 compute: %+v", r)
	}
	if r := rows["h1/novaflow-compute"]; r.State != "down" {
		t.Fatalf("h1 compute never reported but is %s", r.State)
	}
	if got := listJSON(t, "--topic", "scheduler"); len(got) != 1 {
		t.Fatalf("--topic scheduler: %+v", got)
	}

	code, out, _ := run(t, "service", "list")
	if code != 0 || !strings.Contains(out, "LAST SEEN UP") || strings.Count(out, "novaflow-compute") != 2 {
		t.Fatalf("table:\n%s", out)
	}
	// The build each service runs: build_id in JSON ("" for none), BUILD in
	// the table ("-" for none).
	for key, want := range map[string]string{"h2/novaflow-compute": "build-h2", "h1/novaflow-compute": "", "h1/novaflow-scheduler": ""} {
		if got := rows[key].BuildID; got == nil || *got != want {
			t.Errorf("%s: build_id %v, want %q", key, got, want)
		}
	}
	if builds := tableColumn(t, out, "BUILD"); builds["h2/novaflow-compute"] != "build-h2" || builds["h1/novaflow-compute"] != "-" || builds["h1/novaflow-scheduler"] != "-" {
		t.Errorf("BUILD column %v, want build-h2 for h2's compute, - for the others\n%s", builds, out)
	}

	if code, _, errOut := run(t, "service", "disable", "h2", "compute", "--reason", "maintenance"); code != 0 {
		t.Fatalf("disable: %s", errOut)
	}
	if r := listJSON(t)["h2/novaflow-compute"]; r.Status != "disabled" || r.DisabledReason != "maintenance" || r.State != "up" {
		t.Fatalf("after disable: %+v", r)
	}
	if code, _, errOut := run(t, "service", "enable", "h2", "novaflow-compute"); code != 0 {
		t.Fatalf("enable: %s", errOut)
	}
	if r := listJSON(t)["h2/novaflow-compute"]; r.Status != "enabled" || r.DisabledReason != "" {
		t.Fatalf("after enable: %+v", r)
	}

	if code, _, errOut := run(t, "service", "force-down", "h2", "compute"); code != 0 {
		t.Fatalf("force-down: %s", errOut)
	}
	if r := listJSON(t)["h2/novaflow-compute"]; r.State != "down" || !r.ForcedDown {
		t.Fatalf("after force-down: %+v", r)
	}
	if code, _, errOut := run(t, "service", "force-down", "--unset", "h2", "compute"); code != 0 {
		t.Fatalf("force-down --unset: %s", errOut)
	}
	if r := listJSON(t)["h2/novaflow-compute"]; r.State != "up" || r.ForcedDown {
		t.Fatalf("after force-down --unset: %+v", r)
	}

	// A running service (up, its worker heartbeats say running) is not
	// deleted without --force: its topic's next report would record it
	// again. Once it has stopped gracefully (its last heartbeat says so), it
	// is.
	srv := testenv.Temporal(t)
	hc, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), WorkerHeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	w := sdkworker.New(hc, "compute", sdkworker.Options{Identity: "novaflow-compute@h2"})
	w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "compute.noop"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, errOut := run(t, "service", "delete", "h2", "compute")
		if code == 1 && strings.Contains(errOut, "is up: stop it first") {
			break
		}
		if code == 0 || time.Now().After(deadline) {
			t.Fatalf("delete of a running service: exit %d: %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond) // its first heartbeat is on its way
	}
	w.Stop()
	for {
		code, _, errOut := run(t, "service", "delete", "h2", "compute")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete of a stopped service: exit %d: %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _, errOut := run(t, "service", "delete", "h1", "compute"); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	if _, gone := listJSON(t)["h1/novaflow-compute"]; gone {
		t.Fatal("deleted service still listed")
	}

	code, _, errOut := run(t, "service", "enable", "nohost", "compute")
	if code != exitRemote || !strings.Contains(errOut, "NotFound: service novaflow-compute on nohost not found") {
		t.Fatalf("enable of an unknown service: exit %d: %s", code, errOut)
	}
}

// TestBadSettingsExitOne: a bad setting stops the command with exit code 1
// and one line that names it.
func TestBadSettingsExitOne(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"NOVAFLOW_REPORT_INTERVAL": "ten"}, []string{"run", "compute"}, `NOVAFLOW_REPORT_INTERVAL: cannot parse "ten"`},
		{map[string]string{"NOVAFLOW_LOG_FORMAT": "xml"}, []string{"service", "list"}, "NOVAFLOW_LOG_FORMAT"},
		{map[string]string{"NOVAFLOW_DATABASE_URL": "postgres://nobody:secret@127.0.0.1:1/none"}, []string{"service", "list"}, "NOVAFLOW_DATABASE_URL: connect to PostgreSQL at postgres://nobody:xxxxx@127.0.0.1:1/none"},
		{nil, []string{"run", "nosuchtopic"}, `no manager for topic "nosuchtopic"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Setenv("NOVAFLOW_TEMPORAL_ADDRESS", "127.0.0.1:1")
			t.Setenv("NOVAFLOW_DATABASE_URL", "postgres://127.0.0.1:1/none")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, errOut := run(t, c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 1 and one line containing %q", code, errOut, c.want)
			}
			if strings.Contains(errOut, "secret") {
				t.Fatalf("the password was printed: %q", errOut)
			}
		})
	}
}

// TestNoDriverExitsOne: outside novaflow dev, a compute service without
// NOVAFLOW_COMPUTE_DRIVER refuses to start, with one line, as nova's
// nova-compute without compute_driver.
func TestNoDriverExitsOne(t *testing.T) {
	store := adminEnv(t)
	t.Chdir(t.TempDir()) // no dev stack is found from here
	t.Setenv("NOVAFLOW_HOST", testenv.UniqueName(t, "h"))
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "")
	os.Unsetenv("NOVAFLOW_COMPUTE_DRIVER")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	code, _, errOut := run(t, "run", "compute")
	want := "manager compute: NOVAFLOW_COMPUTE_DRIVER: not set: name the compute driver of this host (fake, process)\n"
	if code != 1 || !strings.HasPrefix(errOut, "novaflow: ") || !strings.HasSuffix(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	if _, err := store.Get(context.Background(), os.Getenv("NOVAFLOW_HOST"), "novaflow-compute"); err == nil {
		t.Fatal("a service that failed its config check wrote its record")
	}
}

// TestStatelessTopics: conductor and scheduler keep nothing on their host,
// so their replicas may delete their rows on stop (NOVAFLOW_REMOVE_ON_STOP);
// compute and volume keep instances and volumes, and refuse it.
func TestStatelessTopics(t *testing.T) {
	for topic, want := range map[string]bool{"conductor": true, "scheduler": true, "compute": false, "volume": false} {
		def, err := managers.Lookup(topic)
		if err != nil || def.Stateless != want {
			t.Errorf("manager %s: Stateless %v (%v), want %v", topic, def.Stateless, err, want)
		}
	}
}

// TestUnknownDriverExitsOne: a driver name nobody registered stops the
// service at basic_config_check, with one line that lists the registered
// ones, before it registers or polls anything.
func TestUnknownDriverExitsOne(t *testing.T) {
	store := adminEnv(t)
	t.Setenv("NOVAFLOW_HOST", testenv.UniqueName(t, "h"))
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "nope")
	code, _, errOut := run(t, "run", "compute")
	want := `unknown compute driver "nope" (forgotten import?); registered: fake, process`
	if code != 1 || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and one line containing %q", code, errOut, want)
	}
	if _, err := store.Get(context.Background(), os.Getenv("NOVAFLOW_HOST"), "novaflow-compute"); err == nil {
		t.Fatal("a service that failed its config check wrote its record")
	}
}

// TestServiceDeleteRetryAfterAFailure: service delete removes a service's
// schedules of the per-service design first and its row last, so that a
// failure between the two leaves the row listed, and running the command
// again finds it and finishes the job (a schedule already gone is no
// error). Row first would leave schedules that nothing lists, and a retry
// that no longer finds the service.
func TestServiceDeleteRetryAfterAFailure(t *testing.T) {
	store := adminEnv(t)
	ctx := context.Background()
	host := testenv.UniqueName(t, "h")
	if _, err := store.Register(ctx, host, "novaflow-compute", "compute", 3, ""); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids := []string{"report:novaflow-compute:" + host, "periodic:compute:" + host + ":sync_power_states"}
	for _, id := range ids {
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: id,
			Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
			Action: &client.ScheduleWorkflowAction{Workflow: "nobody", TaskQueue: testenv.UniqueName(t, "q")}})
		if err != nil {
			t.Fatal(err)
		}
	}
	gone := func(id string) bool {
		_, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var nf *serviceerror.NotFound
		return errors.As(err, &nf)
	}

	// The row's delete fails once, after the schedules are gone.
	pool, err := db.Open(ctx, os.Getenv("NOVAFLOW_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `
		CREATE FUNCTION refuse_service_delete() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'injected failure of the row delete'; END $$;
		CREATE TRIGGER refuse_service_delete BEFORE UPDATE ON services FOR EACH ROW
			WHEN (NEW.deleted AND NOT OLD.deleted) EXECUTE FUNCTION refuse_service_delete()`); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "service", "delete", "--force", host, "compute")
	if code != exitFailure || !strings.Contains(errOut, "injected failure of the row delete") {
		t.Fatalf("delete with the row's delete failing: exit %d: %s", code, errOut)
	}
	if _, listed := listJSON(t)[host+"/novaflow-compute"]; !listed {
		t.Fatal("after the failed delete the service is no longer listed: a retry cannot find it")
	}
	for _, id := range ids {
		if !gone(id) {
			t.Errorf("schedule %s outlived the first try", id)
		}
	}

	if _, err := pool.Exec(ctx, `DROP TRIGGER refuse_service_delete ON services`); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "service", "delete", "--force", host, "compute"); code != exitOK {
		t.Fatalf("retry of the delete: exit %d: %s", code, errOut)
	}
	if _, listed := listJSON(t)[host+"/novaflow-compute"]; listed {
		t.Fatal("the retry left the service listed")
	}
}
