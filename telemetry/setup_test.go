package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// otelEnv are the variables Setup and the SDK read from the process's
// environment (and OTEL_SDK_DISABLED, which must not count there); clearEnv
// unsets them for a test.
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

func clearEnv(t testing.TB) {
	t.Helper()
	for _, k := range otelEnv {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
}

func setup(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tel, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	})
	return tel
}

func TestSetupOffByDefault(t *testing.T) {
	clearEnv(t)
	tel := setup(t, Config{ServiceName: "novaflow-compute", Host: "h1"})
	if _, ok := tel.TracerProvider().(tracenoop.TracerProvider); !ok {
		t.Errorf("tracer provider %T, want the no-op one", tel.TracerProvider())
	}
	if _, ok := tel.MeterProvider().(metricnoop.MeterProvider); !ok {
		t.Errorf("meter provider %T, want the no-op one", tel.MeterProvider())
	}
	if tel.Handler() != nil {
		t.Error("Handler is set without Prometheus")
	}
	if otel.GetTracerProvider() != tel.TracerProvider() {
		t.Error("the tracer provider is not the global one")
	}
	if in := NewInstruments(); in.on {
		t.Error("instruments are on with no-op providers")
	}
}

func TestSetupChoosesExporters(t *testing.T) {
	cases := []struct {
		name       string
		env        map[string]string
		prometheus bool
		disabled   string // Config.SDKDisabled
		traces     string // "", or what Telemetry.traces says
		metrics    string
		wantErr    string
	}{
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, traces: "console"},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
			traces: "otlp (http/protobuf)", metrics: "otlp (http/protobuf)"},
		{name: "traces endpoint over grpc", env: map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			traces: "otlp (grpc)"},
		{name: "explicit none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
			"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}},
		{name: "prometheus", prometheus: true, metrics: "prometheus on /metrics"},
		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "bad exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin-of-old"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "disabled", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, disabled: "true", prometheus: true},
		{name: "disabled in any case", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, disabled: " TRUE ", prometheus: true},
		// Setup takes OTEL_SDK_DISABLED from Config (the environment cmd
		// was given), never from the process's.
		{name: "disabled in the process only", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, traces: "console"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.wantErr != "" {
				_, err := Setup(context.Background(), Config{Logger: slog.New(slog.DiscardHandler)})
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Setup: %v, want an error naming %s", err, c.wantErr)
				}
				return
			}
			tel := setup(t, Config{Prometheus: c.prometheus, SDKDisabled: c.disabled})
			_, sdkTraces := tel.TracerProvider().(*sdktrace.TracerProvider)
			if sdkTraces != (c.traces != "") || (c.traces != "" && tel.traces != c.traces) {
				t.Errorf("traces: %T %q, want %q", tel.TracerProvider(), tel.traces, c.traces)
			}
			_, sdkMetrics := tel.MeterProvider().(*sdkmetric.MeterProvider)
			if sdkMetrics != (c.metrics != "") || strings.Join(tel.metrics, ", ") != c.metrics {
				t.Errorf("metrics: %T %q, want %q", tel.MeterProvider(), tel.metrics, c.metrics)
			}
			if (tel.Handler() != nil) != (c.metrics == "prometheus on /metrics") {
				t.Errorf("Handler set: %v", tel.Handler() != nil)
			}
		})
	}
}

// TestSetupLogsWhatIsOn: one line at start says where telemetry goes.
func TestSetupLogsWhatIsOn(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	var buf strings.Builder
	setup(t, Config{Prometheus: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if !strings.Contains(buf.String(), `msg=telemetry traces=console metrics="prometheus on /metrics"`) {
		t.Errorf("start-up line: %q", buf.String())
	}
}

// scrape returns what h serves on /metrics.
func scrape(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, b)
	}
	return string(b)
}

// TestSetupPropagators checks that Config.Propagators (OTEL_PROPAGATORS)
// chooses the global propagator: the headers an injected span writes are
// those of the named formats, and an unknown name stops Setup naming the
// variable.
func TestSetupPropagators(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		value string
		want  []string // header keys injected for a sampled span and a baggage member
	}{
		{"", []string{"baggage", "traceparent"}},
		{"tracecontext,baggage", []string{"baggage", "traceparent"}},
		{"b3", []string{"b3"}},
		{"b3multi", []string{"x-b3-sampled", "x-b3-spanid", "x-b3-traceid"}},
		{" B3 , tracecontext ", []string{"b3", "traceparent"}},
		{"jaeger", []string{"uber-trace-id"}},
		{"none", nil},
	} {
		t.Run(tc.value, func(t *testing.T) {
			setup(t, Config{Propagators: tc.value, Logger: slog.New(slog.DiscardHandler)})
			sc := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
			})
			member, _ := baggage.NewMember("tenant", "t1")
			bag, _ := baggage.New(member)
			ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bag)
			carrier := propagation.MapCarrier{}
			otel.GetTextMapPropagator().Inject(ctx, carrier)
			got := carrier.Keys()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("OTEL_PROPAGATORS=%q injected %v, want %v", tc.value, got, tc.want)
			}
			if len(tc.want) == 0 {
				return
			}
			// What was injected is extracted again: the span goes on.
			back := trace.SpanContextFromContext(otel.GetTextMapPropagator().Extract(context.Background(), carrier))
			if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() {
				t.Errorf("extracted %v/%v, want %v/%v", back.TraceID(), back.SpanID(), sc.TraceID(), sc.SpanID())
			}
		})
	}
	for _, bad := range []string{"zipkin", "b3,zipkin"} {
		_, err := Setup(context.Background(), Config{Propagators: bad, Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "OTEL_PROPAGATORS") || !strings.Contains(err.Error(), "zipkin") {
			t.Errorf("Setup with OTEL_PROPAGATORS=%q: %v, want an error naming the variable and the value", bad, err)
		}
	}
}
