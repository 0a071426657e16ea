package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaflow/novaflow/managers"
)

// TestStartRPCRecords: a call's span and its metrics, by outcome, in
// Prometheus format.
func TestStartRPCRecords(t *testing.T) {
	clearEnv(t)
	spans := tracetest.NewInMemoryExporter()
	tel := setup(t, Config{Prometheus: true, SpanExporter: spans, ServiceVersion: "v9.9.9"})
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
		`rpc_client_call_duration_seconds_count{novaflow_rpc_kind="call",rpc_method="compute.reboot_instance",rpc_system_name="novaflow"} 1`,
		`rpc_client_call_duration_seconds_count{error_type="NotFound",novaflow_rpc_kind="cast",rpc_method="compute.reboot_instance",rpc_system_name="novaflow"} 1`,
		`rpc_client_call_duration_seconds_bucket{novaflow_rpc_kind="call",rpc_method="compute.reboot_instance",rpc_system_name="novaflow",le="0.001"}`,
		`go_goroutines`, `process_cpu_seconds_total`, `target_info{`, `service_version="v9.9.9"`,
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

// BenchmarkOff measures what instrumentation costs when telemetry is off
// (no-op providers), per RPC.
func BenchmarkOff(b *testing.B) {
	clearEnv(b)
	if _, err := Setup(context.Background(), Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		b.Fatal(err)
	}
	in := NewInstruments()
	ctx := context.Background()
	b.Run("StartRPC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, end := in.StartRPC(ctx, Call, "compute", "reboot_instance")
			end(nil)
		}
	})
}
