package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Config is what Setup needs besides the OTEL_* variables that the
// OpenTelemetry SDK reads itself (sdkGetenv). Every field is optional.
type Config struct {
	// ServiceName is the service.name of the telemetry unless
	// OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) sets it: the binary,
	// e.g. novaflow-compute; default "novaflow".
	ServiceName string
	// ServiceVersion is service.version: the binary's version (novaflow
	// version); empty leaves it out.
	ServiceVersion string
	// Host is service.instance.id and host.name: NOVAFLOW_HOST.
	Host string
	// Prometheus turns on the metrics in Prometheus format that Handler
	// serves (on /metrics of the health address).
	Prometheus bool
	// Logger gets OpenTelemetry's own errors (an exporter that cannot reach
	// its collector) and one line saying what Setup turned on; default
	// slog.Default().
	Logger *slog.Logger
	// SpanExporter, when set, replaces the exporter the environment chooses;
	// spans reach it synchronously as they end (tests use
	// tracetest.NewInMemoryExporter).
	SpanExporter sdktrace.SpanExporter
	// MetricReaders are added to the readers the environment and
	// Prometheus give (tests use sdkmetric.NewManualReader).
	MetricReaders []sdkmetric.Reader
	// Propagators is the value of OTEL_PROPAGATORS, which cmd reads from the
	// environment it was given: a comma-separated list of tracecontext,
	// baggage, b3, b3multi, jaeger, xray, ottrace or none; empty means
	// tracecontext,baggage.
	Propagators string
	// SDKDisabled is the value of OTEL_SDK_DISABLED, which cmd reads from
	// the environment it was given (the Go SDK does not read it): "true",
	// in any case, turns everything off but propagation.
	SDKDisabled string
}

// Telemetry is the process's OpenTelemetry set-up, made by Setup.
type Telemetry struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	handler        http.Handler
	propagator     propagation.TextMapPropagator
	traces         string // what exports spans, for the start-up line
	metrics        []string
	shutdown       []func(context.Context) error
}

// Setup builds the tracer and meter providers from cfg and the standard
// OpenTelemetry environment, and installs them, with the propagator
// cfg.Propagators (OTEL_PROPAGATORS) names, as the OpenTelemetry globals:
//
//   - traces: OTEL_TRACES_EXPORTER (otlp, console or none) chooses the
//     exporter; unset, spans go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT
//     or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and nowhere otherwise.
//     OTLP speaks OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, or
//     grpc); sampling follows OTEL_TRACES_SAMPLER.
//   - metrics: served in Prometheus format by Handler when cfg.Prometheus
//     is set, and exported as OTEL_METRICS_EXPORTER says (unset: over OTLP
//     when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
//     is set).
//   - propagation: cfg.Propagators, as OTEL_PROPAGATORS, chooses how a span
//     travels in headers (the Temporal header included): W3C trace context
//     and baggage by default; an unknown name is an error naming the
//     variable.
//   - cfg.SDKDisabled (OTEL_SDK_DISABLED) "true" turns everything off but
//     propagation.
//
// The OTEL_* variables of the exporters, the resource and sampling are read
// from the process's environment, by the SDK and (sdkGetenv) by Setup,
// which must see what the SDK sees; the two Setup takes from the
// environment cmd was given are cfg's.
//
// With nothing to export, the globals are no-op providers. Shutdown flushes
// and stops what Setup started.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	prop, err := Propagator(cfg.Propagators)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{tracerProvider: tracenoop.NewTracerProvider(), meterProvider: metricnoop.NewMeterProvider(), propagator: prop, traces: "none"}
	if strings.EqualFold(strings.TrimSpace(cfg.SDKDisabled), "true") {
		t.install(logger)
		logger.Info("telemetry off: OTEL_SDK_DISABLED=true")
		return t, nil
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := t.setupTraces(ctx, cfg, res); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	if err := t.setupMetrics(ctx, cfg, res); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	t.install(logger)
	metrics := "none"
	if len(t.metrics) > 0 {
		metrics = strings.Join(t.metrics, ", ")
	}
	logger.Info("telemetry", "traces", t.traces, "metrics", metrics)
	return t, nil
}

// install makes t's providers the OpenTelemetry globals, and routes
// OpenTelemetry's errors to logger.
func (t *Telemetry) install(logger *slog.Logger) {
	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.meterProvider)
	otel.SetTextMapPropagator(t.propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("telemetry failed", "error", err)
	}))
}

// Propagator returns the propagator that value, a list of propagator names
// as OTEL_PROPAGATORS takes them, names (go.opentelemetry.io/contrib/propagators/autoprop):
// tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, or none (no
// propagation at all); empty, W3C trace context and baggage, the
// specification's default. An unknown name is an error naming
// OTEL_PROPAGATORS.
func Propagator(value string) (propagation.TextMapPropagator, error) {
	var names []string
	for _, n := range strings.Split(value, ",") {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), nil
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, &settingError{fmt.Errorf("OTEL_PROPAGATORS: %q: %w (want a list of tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace or none)", value, err)}
	}
	return p, nil
}

// newResource describes this process: service.name, the host, and what the
// environment adds (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), which wins.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	name := cfg.ServiceName
	if name == "" {
		name = "novaflow"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	if cfg.Host != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.Host), attribute.String("host.name", cfg.Host))
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return res, nil
}

// setupTraces makes the tracer provider when there is somewhere to export.
func (t *Telemetry) setupTraces(ctx context.Context, cfg Config, res *resource.Resource) error {
	if cfg.SpanExporter != nil {
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(cfg.SpanExporter))
		t.tracerProvider, t.traces = tp, "given exporter"
		t.shutdown = append(t.shutdown, tp.Shutdown)
		return nil
	}
	exp, err := autoexport.NewSpanExporter(ctx, autoexport.WithFallbackSpanExporter(func(ctx context.Context) (sdktrace.SpanExporter, error) {
		if !endpointSet("TRACES") {
			return nil, nil // none by default
		}
		return otlpSpanExporter(ctx)
	}))
	if err != nil {
		return envError("OTEL_TRACES_EXPORTER", err)
	}
	if exp == nil || autoexport.IsNoneSpanExporter(exp) {
		return nil
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
	t.tracerProvider, t.traces = tp, exporterName("OTEL_TRACES_EXPORTER", "TRACES")
	t.shutdown = append(t.shutdown, tp.Shutdown)
	return nil
}

// setupMetrics makes the meter provider when there is a reader.
func (t *Telemetry) setupMetrics(ctx context.Context, cfg Config, res *resource.Resource) error {
	readers := append([]sdkmetric.Reader(nil), cfg.MetricReaders...)
	if len(readers) > 0 {
		t.metrics = append(t.metrics, "given readers")
	}
	if cfg.Prometheus {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return fmt.Errorf("prometheus metrics: %w", err)
		}
		readers = append(readers, exp)
		t.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		t.metrics = append(t.metrics, "prometheus on /metrics")
	}
	r, err := autoexport.NewMetricReader(ctx, autoexport.WithFallbackMetricReader(func(ctx context.Context) (sdkmetric.Reader, error) {
		if !endpointSet("METRICS") {
			return nil, nil // none by default
		}
		return otlpMetricReader(ctx)
	}))
	if err != nil {
		return envError("OTEL_METRICS_EXPORTER", err)
	}
	if r != nil && !autoexport.IsNoneMetricReader(r) {
		readers = append(readers, r)
		t.metrics = append(t.metrics, exporterName("OTEL_METRICS_EXPORTER", "METRICS"))
	}
	if len(readers) == 0 {
		return nil
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithView(secondsView)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.meterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return nil
}

// secondsBuckets are the bucket bounds of every histogram in seconds: from a
// millisecond (a local call) to five minutes (a long build).
var secondsBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// secondsView gives every histogram in seconds, the Temporal SDK's timers
// included, secondsBuckets instead of the SDK's default bounds (made for
// milliseconds).
func secondsView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram || i.Unit != "s" {
		return sdkmetric.Stream{}, false
	}
	return sdkmetric.Stream{
		Name: i.Name, Description: i.Description, Unit: i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: secondsBuckets},
	}, true
}

// endpointSet reports whether an OTLP endpoint is configured for signal
// (TRACES or METRICS).
func endpointSet(signal string) bool {
	return sdkGetenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || sdkGetenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// otlpProtocol is the OTLP protocol of signal: grpc or http/protobuf.
func otlpProtocol(signal string) (string, error) {
	for _, key := range []string{"OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch v := sdkGetenv(key); v {
		case "":
		case "grpc", "http/protobuf":
			return v, nil
		default:
			return "", &settingError{fmt.Errorf("%s: %q: want grpc or http/protobuf", key, v)}
		}
	}
	return "http/protobuf", nil
}

func otlpSpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	proto, err := otlpProtocol("TRACES")
	if err != nil {
		return nil, err
	}
	if proto == "grpc" {
		return otlptracegrpc.New(ctx)
	}
	return otlptracehttp.New(ctx)
}

func otlpMetricReader(ctx context.Context) (sdkmetric.Reader, error) {
	proto, err := otlpProtocol("METRICS")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if proto == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, err
	}
	return sdkmetric.NewPeriodicReader(exp), nil
}

// exporterName says which exporter the environment chose for signal, for
// the start-up line: the exporter variable's value, else OTLP with its
// protocol.
func exporterName(key, signal string) string {
	if v := sdkGetenv(key); v != "" && v != "otlp" {
		return v
	}
	proto, _ := otlpProtocol(signal)
	return "otlp (" + proto + ")"
}

// settingError is an error that names its environment variable.
type settingError struct{ error }

func (e *settingError) Unwrap() error { return e.error }

// envError names the variable key in err, unless err names its own.
func envError(key string, err error) error {
	var named *settingError
	if errors.As(err, &named) {
		return err
	}
	return fmt.Errorf("%s: %w", key, err)
}

// TracerProvider is the tracer provider Setup installed.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }

// MeterProvider is the meter provider Setup installed.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meterProvider }

// Handler serves the metrics in Prometheus text format; nil unless
// Config.Prometheus was set (and the SDK is not disabled).
func (t *Telemetry) Handler() http.Handler { return t.handler }

// Shutdown flushes the spans and metrics not yet exported and stops the
// exporters, within ctx.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		if err := t.shutdown[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	t.shutdown = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}
