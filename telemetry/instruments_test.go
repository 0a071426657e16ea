package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers"
)

// TestStartRPCRecords: a call's span and its metrics, by outcome, in
// Prometheus format.
func TestStartRPCRecords(t *testing.T) {
	clearEnv(t)
	spans := tracetest.NewInMemoryExporter()
	tel := setup(t, Config{Prometheus: true, SpanExporter: spans})
	in := NewInstruments()

	ctx, end := in.StartRPC(context.Background(), Call, "compute", "reboot_instance")
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("no span in the call's context")
	}
	end(nil)
	_, end = in.StartRPC(context.Background(), Cast, "compute", "reboot_instance")
	end(managers.NotFound("instance", "x"))

	got := spans.GetSpans()
	if len(got) != 2 || got[0].Name != "call compute.reboot_instance" || got[1].Name != "cast compute.reboot_instance" {
		t.Fatalf("spans = %v", got.Snapshots())
	}
	if got[0].SpanKind != trace.SpanKindClient {
		t.Errorf("span kind %v", got[0].SpanKind)
	}
	text := scrape(t, tel)
	for _, want := range []string{
		`novaflow_rpc_client_calls_total{kind="call",method="reboot_instance",outcome="ok",topic="compute"} 1`,
		`novaflow_rpc_client_calls_total{kind="cast",method="reboot_instance",outcome="NotFound",topic="compute"} 1`,
		`novaflow_rpc_client_duration_seconds_bucket{kind="call",method="reboot_instance",outcome="ok",topic="compute",le="0.001"}`,
		`go_goroutines`, `process_cpu_seconds_total`, `target_info{`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestNilInstrumentsRecordNothing(t *testing.T) {
	var in *Instruments
	ctx := context.Background()
	got, end := in.StartRPC(ctx, Call, "compute", "x")
	end(errors.New("x"))
	if got != ctx {
		t.Error("nil Instruments changed the context")
	}
	stop, err := in.ObserveServices(nil, time.Second)
	if err != nil || stop() != nil {
		t.Error("nil Instruments cannot observe")
	}
}

// TestObserveServices: the gauge reads the table at most once per ttl and
// keeps the states it has seen, at 0.
func TestObserveServices(t *testing.T) {
	clearEnv(t)
	tel := setup(t, Config{Prometheus: true})
	var calls atomic.Int32
	var fail atomic.Bool
	rows := []ServiceCount{{Topic: "compute", State: "up", Count: 2}, {Topic: "compute", State: "down", Disabled: true, Count: 1}}
	stop, err := NewInstruments().ObserveServices(func(ctx context.Context) ([]ServiceCount, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("database down")
		}
		out := rows
		rows = []ServiceCount{{Topic: "compute", State: "down", Count: 3}}
		return out, nil
	}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, tel)
	if again := scrape(t, tel); calls.Load() != 1 || grep(again, "novaflow_services") != grep(text, "novaflow_services") {
		t.Errorf("count called %d times within the ttl", calls.Load())
	}
	for _, want := range []string{
		`novaflow_services{state="up",status="enabled",topic="compute"} 2`,
		`novaflow_services{state="down",status="disabled",topic="compute"} 1`,
		`novaflow_services{state="down",status="enabled",topic="compute"} 0`,
		`novaflow_services{state="up",status="disabled",topic="compute"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grep(text, "novaflow_services"))
		}
	}
	time.Sleep(250 * time.Millisecond)
	text = scrape(t, tel)
	if calls.Load() != 2 || !strings.Contains(text, `novaflow_services{state="up",status="enabled",topic="compute"} 0`) ||
		!strings.Contains(text, `novaflow_services{state="down",status="enabled",topic="compute"} 3`) {
		t.Errorf("after the ttl (%d reads):\n%s", calls.Load(), grep(text, "novaflow_services"))
	}
	time.Sleep(250 * time.Millisecond)
	fail.Store(true)
	if text = scrape(t, tel); strings.Contains(text, "novaflow_services{") {
		t.Errorf("a failed read still published:\n%s", grep(text, "novaflow_services"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	fail.Store(false)
	if text = scrape(t, tel); strings.Contains(text, "novaflow_services{") {
		t.Error("the gauge is still published after stop")
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTraceComputeDriver: each driver call is a span under the caller's.
func TestTraceComputeDriver(t *testing.T) {
	clearEnv(t)
	spans := tracetest.NewInMemoryExporter()
	setup(t, Config{SpanExporter: spans})
	f, err := fake.Open(compute.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d := TraceComputeDriver("fake", f)
	if UntracedComputeDriver(d) != compute.Driver(f) || UntracedComputeDriver(f) != compute.Driver(f) {
		t.Fatal("UntracedComputeDriver does not give the fake back")
	}
	if UntracedComputeDriver(TraceComputeDriver("fake", d)) != compute.Driver(f) {
		t.Fatal("wrapping twice nests")
	}
	ctx, parent := otel.Tracer("test").Start(context.Background(), "manager")
	u := "2b0c3f8e-4a52-4e0b-8f55-6f3c8f1a0d11"
	inst := compute.Instance{UUID: u, Flavor: compute.Flavor{Name: "t", VCPUs: 1, MemoryMB: 1}, Command: []string{"sleep", "1"}}
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Info(ctx, "not-a-uuid"); err == nil {
		t.Fatal("Info of a bad UUID succeeded")
	}
	if err := d.Reboot(ctx, u, true); err != nil {
		t.Fatal(err)
	}
	parent.End()
	got := spans.GetSpans()
	names := []string{}
	for _, s := range got {
		names = append(names, s.Name)
		if s.Name == "manager" {
			continue
		}
		if s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the caller's span", s.Name)
		}
	}
	if strings.Join(names, ",") != "compute.driver Spawn,compute.driver Info,compute.driver Reboot,manager" {
		t.Fatalf("spans = %v", names)
	}
	if got[1].Status.Code.String() != "Error" || len(got[1].Events) == 0 {
		t.Errorf("failed Info span: status %v, events %v", got[1].Status, got[1].Events)
	}
	attrs := map[string]string{}
	for _, a := range got[0].Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["novaflow.driver"] != "fake" || attrs["novaflow.instance"] != u {
		t.Errorf("Spawn attributes = %v", attrs)
	}
}

// BenchmarkOff measures what instrumentation costs when telemetry is off
// (no-op providers), per RPC and per driver call.
func BenchmarkOff(b *testing.B) {
	clearEnv(b)
	if _, err := Setup(context.Background(), Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		b.Fatal(err)
	}
	in := NewInstruments()
	f, err := fake.Open(compute.Config{})
	if err != nil {
		b.Fatal(err)
	}
	d := TraceComputeDriver("fake", f)
	ctx := context.Background()
	b.Run("StartRPC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, end := in.StartRPC(ctx, Call, "compute", "reboot_instance")
			end(nil)
		}
	})
	b.Run("driver Resources", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = d.Resources(ctx)
		}
	})
	b.Run("driver Resources untraced", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.Resources(ctx)
		}
	})
}
