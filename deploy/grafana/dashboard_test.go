package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestCommittedJSON: novaflow.json is what the generator makes; after a
// change to dashboard.go, run `go run . > novaflow.json`.
func TestCommittedJSON(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("novaflow.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("novaflow.json is not the generator's output: run `go run . > novaflow.json` in deploy/grafana")
	}
}

// panelQuery is one query of a panel of the committed dashboard.
type panelQuery struct{ panel, expr string }

// committedQueries reads every panel's queries from novaflow.json.
func committedQueries(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile("novaflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, panelQuery{panel: p.Title, expr: q.Expr})
		}
	}
	return out
}

// served is what /metrics serves: the series names PromQL sees (a
// histogram's _bucket, _count and _sum) and the label names of each.
type served map[string]map[string]bool

func parseMetrics(text string) (served, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	s := served{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		if s[name] == nil {
			s[name] = map[string]bool{}
		}
		for _, l := range labels {
			s[name][l.GetName()] = true
		}
		for _, l := range extra {
			s[name][l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetType() == dto.MetricType_HISTOGRAM {
				add(name+"_bucket", m.GetLabel(), "le")
				add(name+"_count", m.GetLabel())
				add(name+"_sum", m.GetLabel())
				continue
			}
			add(name, m.GetLabel())
		}
	}
	return s, nil
}

// checkQuery parses expr with Prometheus' PromQL parser and returns what it
// asks that s does not serve: a metric name, a label a selector matches on,
// or a label an aggregation groups by that none of its series have.
func checkQuery(expr string, s served) ([]string, error) {
	// Grafana replaces its interval variable before the query reaches
	// Prometheus.
	expr = strings.ReplaceAll(expr, rateInterval, "5m")
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var problems []string
	selected := func(n parser.Node) map[string]bool { // the labels of the series under n
		labels := map[string]bool{}
		parser.Inspect(n, func(c parser.Node, _ []parser.Node) error {
			if vs, ok := c.(*parser.VectorSelector); ok {
				for l := range s[vs.Name] {
					labels[l] = true
				}
			}
			return nil
		})
		return labels
	}
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if n.Name == "" {
				problems = append(problems, "a selector without a metric name: "+n.String())
				return nil
			}
			labels, ok := s[n.Name]
			if !ok {
				problems = append(problems, "metric "+n.Name)
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !labels[m.Name] {
					problems = append(problems, fmt.Sprintf("label %s of %s", m.Name, n.Name))
				}
			}
		case *parser.AggregateExpr:
			labels := selected(n.Expr)
			for _, g := range n.Grouping {
				if !labels[g] {
					problems = append(problems, fmt.Sprintf("label %s to group by in %s", g, n.String()))
				}
			}
		}
		return nil
	})
	return problems, nil
}

// TestCheckQuery: the check finds a metric, a label and a grouping label
// that are not served, and passes what is.
func TestCheckQuery(t *testing.T) {
	s, err := parseMetrics(`# TYPE novaflow_services gauge
novaflow_services{topic="compute",state="up",status="enabled"} 1
# TYPE rpc_server_call_duration_seconds histogram
rpc_server_call_duration_seconds_bucket{rpc_method="compute.x",le="+Inf"} 1
rpc_server_call_duration_seconds_sum{rpc_method="compute.x"} 0.1
rpc_server_call_duration_seconds_count{rpc_method="compute.x"} 1
`)
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		`max by (topic) (novaflow_services{state="down"})`:                                                      "",
		`histogram_quantile(0.99, sum by (le, rpc_method) (rate(rpc_server_call_duration_seconds_bucket[5m])))`: "",
		`sum(rate(rpc_server_call_duration_seconds_count[$__rate_interval]))`:                                   "",
		`max by (topic) (novaflow_service)`:                                                                     "metric novaflow_service",
		`max by (topic) (novaflow_services{outcome="x"})`:                                                       "label outcome of novaflow_services",
		`sum by (error_type) (rate(rpc_server_call_duration_seconds_count[5m]))`:                                "label error_type to group by",
		`sum by (le) (rate(rpc_server_call_duration_seconds_count[5m]))`:                                        "label le to group by",
	} {
		problems, err := checkQuery(expr, s)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		got := strings.Join(problems, "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("checkQuery(%s) = %q, want %q", expr, got, want)
		}
	}
	if _, err := checkQuery(`sum(rate(x[5m]`, s); err == nil {
		t.Error("a query that does not parse passed")
	}
}

// TestPanelsQueryServedMetrics runs a real `novaflow dev` (Temporal's dev
// server, PostgreSQL, every topic; the fake compute driver), makes it do what
// every panel shows — a build, calls that succeed and calls that fail with a
// typed error on both sides of RPC, a periodic run, status reports — then
// scrapes its /metrics and checks every query of every panel against what is
// served: each metric name, each label a selector matches on, each label an
// aggregation groups by.
func TestPanelsQueryServedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev stack")
	}
	queries := committedQueries(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "novaflow-grafana-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	// As root, PostgreSQL runs as the user postgres, which must enter it.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	bin := filepath.Join(work, "novaflow")
	goCmd(t, ctx, root, "build", "-o", bin, "./cmd/novaflow")
	temporal := goCmd(t, ctx, filepath.Join(root, "tools", "temporal"), "tool", "-n", "temporal")

	ports := freePorts(t, 4)
	address := fmt.Sprintf("127.0.0.1:%d", ports[0])
	health := fmt.Sprintf("127.0.0.1:%d", ports[3])
	env := devEnv()
	dev := exec.Command(bin, "dev", "--dir", filepath.Join(work, ".novaflow"),
		"--temporal-port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]),
		"--postgres-port", strconv.Itoa(ports[2]), "--health-address", health)
	dev.Dir, dev.Env = work, env
	out := &syncBuffer{}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			_ = dev.Process.Kill()
			<-exited
			t.Errorf("novaflow dev did not stop on SIGINT\n%s", out)
		}
	})
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-exited:
			t.Fatalf("novaflow dev exited: %v\n%s", err, out)
		case <-ctx.Done():
			t.Fatalf("novaflow dev did not start\n%s", out)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// The work the panels show.
	tctl := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, temporal, append([]string{"workflow", "execute", "--address", address, "--namespace", "default", "-o", "json"}, args...)...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("temporal workflow execute %s: %v, want success %v\n%s", strings.Join(args, " "), err, wantOK, b)
		}
		return string(b)
	}
	build := tctl(true, "--task-queue", "conductor", "--type", "conductor.build_instances", "--input",
		`{"name":"web","count":1,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
	uuid := findUUID(t, build)
	const missing = "00000000-0000-4000-8000-000000000000"
	tctl(true, "--task-queue", "compute", "--type", "compute.reboot_instance", "--input", `{"instance_uuid":"`+uuid+`","reboot_type":"HARD"}`)
	// A typed error at the service (NotFound), and one that compute gets
	// from its RPC call to the volume service.
	tctl(false, "--task-queue", "compute", "--type", "compute.reboot_instance", "--input", `{"instance_uuid":"`+missing+`"}`)
	tctl(false, "--task-queue", "compute", "--type", "compute.attach_volume", "--input", `{"instance_uuid":"`+uuid+`","volume_id":"`+missing+`"}`)
	periodic := exec.CommandContext(ctx, bin, "service", "run-periodic", "compute")
	periodic.Dir, periodic.Env = work, env
	if b, err := periodic.CombinedOutput(); err != nil {
		t.Fatalf("novaflow service run-periodic compute: %v\n%s", err, b)
	}

	// The periodic run and the reports land in a moment: scrape until every
	// query is satisfied, or report what is still missing.
	var problems []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		text := scrape(t, "http://"+health+"/metrics")
		s, err := parseMetrics(text)
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		problems = problems[:0]
		for _, q := range queries {
			p, err := checkQuery(q.expr, s)
			if err != nil {
				t.Fatalf("panel %q: %s: %v", q.panel, q.expr, err)
			}
			for _, x := range p {
				problems = append(problems, fmt.Sprintf("panel %q: %s: /metrics lacks %s", q.panel, q.expr, x))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			if len(problems) == 0 {
				names := make([]string, 0, len(s))
				for n := range s {
					if strings.HasPrefix(n, "novaflow_") || strings.HasPrefix(n, "rpc_") {
						names = append(names, n)
					}
				}
				sort.Strings(names)
				t.Logf("%d queries of %d panels checked against /metrics: %s", len(queries), countPanels(queries), strings.Join(names, " "))
			}
			break
		}
		time.Sleep(time.Second)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if dump := os.Getenv("NOVAFLOW_GRAFANA_SCRAPE"); dump != "" {
		// For the picture in docs/observability.md: the scrape the check
		// passed on.
		if err := os.WriteFile(dump, []byte(scrape(t, "http://"+health+"/metrics")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countPanels(qs []panelQuery) int {
	seen := map[string]bool{}
	for _, q := range qs {
		seen[q.panel] = true
	}
	return len(seen)
}

// devEnv is the environment of the dev stack and of the commands run
// beside it: no settings of the caller's, the fake compute driver, frequent
// reports.
func devEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NOVAFLOW_") || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "OTEL_") || k == "DATABASE_URL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GOWORK=off",
		"NOVAFLOW_HOST=grafana-host",
		"NOVAFLOW_COMPUTE_DRIVER=fake",
		"NOVAFLOW_REPORT_INTERVAL=1s",
		"NOVAFLOW_PERIODIC_FUZZY_DELAY=0s",
	)
}

// goCmd runs the go command in dir and returns its output.
func goCmd(t *testing.T, ctx context.Context, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(b))
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// findUUID finds the instance's UUID in the build's result.
func findUUID(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, `"uuid"`)
	if i < 0 {
		t.Fatalf("no instance uuid in the build's result:\n%s", out)
	}
	rest := out[i+len(`"uuid"`):]
	start := strings.Index(rest, `"`)
	end := strings.Index(rest[start+1:], `"`)
	if start < 0 || end < 0 {
		t.Fatalf("no instance uuid in the build's result:\n%s", out)
	}
	return rest[start+1 : start+1+end]
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
