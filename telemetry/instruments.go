package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// ScopeName is the instrumentation scope of novaflow's own spans and
// metrics.
const ScopeName = "github.com/novaflow/novaflow"

// The names of novaflow's own metrics, as OpenTelemetry instruments. In
// Prometheus format dots become underscores, counters end in _total and
// histograms in seconds in _seconds (novaflow_rpc_client_calls_total,
// novaflow_rpc_client_duration_seconds); docs/observability.md lists them.
const (
	// MetricRPCClientCalls counts the RPC calls, casts and fanouts a process
	// made (package rpc), by topic, method, kind and outcome.
	MetricRPCClientCalls = "novaflow.rpc.client.calls"
	// MetricRPCClientDuration is how long they took, as the caller saw it: a
	// cast until it was recorded, a call until its result.
	MetricRPCClientDuration = "novaflow.rpc.client.duration"
	// MetricRPCServerCalls counts the manager methods a service ran for RPC
	// calls, by topic, method and outcome.
	MetricRPCServerCalls = "novaflow.rpc.server.calls"
	// MetricRPCServerDuration is how long the manager methods ran.
	MetricRPCServerDuration = "novaflow.rpc.server.duration"
	// MetricPeriodicRuns counts the runs of periodic tasks, by topic, task
	// and outcome (ok or error, raised or only logged).
	MetricPeriodicRuns = "novaflow.periodic.runs"
	// MetricPeriodicDuration is how long periodic tasks ran.
	MetricPeriodicDuration = "novaflow.periodic.duration"
	// MetricReports counts the status reports a service wrote, by topic and
	// outcome: sent or failed.
	MetricReports = "novaflow.reports"
	// MetricServices is the number of services by topic, state (up or down,
	// nova's is_up) and status (enabled or disabled), as the services table
	// shows them when the metrics are collected.
	MetricServices = "novaflow.services"
)

// Attribute keys of novaflow's metrics; the spans carry the same values under
// the novaflow. prefix.
const (
	TopicKey   = attribute.Key("topic")
	MethodKey  = attribute.Key("method")
	KindKey    = attribute.Key("kind")
	OutcomeKey = attribute.Key("outcome")
	TaskKey    = attribute.Key("task")
	StateKey   = attribute.Key("state")
	StatusKey  = attribute.Key("status")
)

// Outcomes that are not an error type.
const (
	OutcomeOK       = "ok"
	OutcomeError    = "error"    // an untyped failure
	OutcomeCanceled = "canceled" // the caller or the worker gave up
	OutcomeSent     = "sent"     // a status report written
	OutcomeFailed   = "failed"   // a status report not written
)

// RPCKind is how an RPC is made.
type RPCKind string

// The kinds of RPC, as package rpc makes them.
const (
	Call   RPCKind = "call"
	Cast   RPCKind = "cast"
	Fanout RPCKind = "fanout"
)

// Instruments are novaflow's own metrics and the tracer of its own spans.
// A nil *Instruments records nothing.
type Instruments struct {
	tracer trace.Tracer
	meter  metric.Meter
	// on is false when both providers are no-ops: then nothing is computed.
	on bool

	rpcClientCalls    metric.Int64Counter
	rpcClientDuration metric.Float64Histogram
	rpcServerCalls    metric.Int64Counter
	rpcServerDuration metric.Float64Histogram
	periodicRuns      metric.Int64Counter
	periodicDuration  metric.Float64Histogram
	reports           metric.Int64Counter
}

// NewInstruments returns novaflow's instruments on the global providers
// (those Setup installed).
func NewInstruments() *Instruments {
	return newInstruments(otel.GetTracerProvider(), otel.GetMeterProvider())
}

func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider) *Instruments {
	_, noTraces := tp.(tracenoop.TracerProvider)
	_, noMetrics := mp.(metricnoop.MeterProvider)
	in := &Instruments{tracer: tp.Tracer(ScopeName), meter: mp.Meter(ScopeName), on: !(noTraces && noMetrics)}
	in.rpcClientCalls = in.counter(MetricRPCClientCalls, "{call}", "RPC calls, casts and fanouts made, by topic, method, kind and outcome")
	in.rpcClientDuration = in.histogram(MetricRPCClientDuration, "How long RPC calls took as the caller saw them")
	in.rpcServerCalls = in.counter(MetricRPCServerCalls, "{call}", "Manager methods run for RPC calls, by topic, method and outcome")
	in.rpcServerDuration = in.histogram(MetricRPCServerDuration, "How long manager methods ran for RPC calls")
	in.periodicRuns = in.counter(MetricPeriodicRuns, "{run}", "Periodic task runs, by topic, task and outcome")
	in.periodicDuration = in.histogram(MetricPeriodicDuration, "How long periodic tasks ran")
	in.reports = in.counter(MetricReports, "{report}", "Status reports, by topic and outcome (sent or failed)")
	return in
}

func (in *Instruments) counter(name, unit, desc string) metric.Int64Counter {
	c, err := in.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		return metricnoop.Int64Counter{}
	}
	return c
}

func (in *Instruments) histogram(name, desc string) metric.Float64Histogram {
	h, err := in.meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	if err != nil {
		otel.Handle(err)
		return metricnoop.Float64Histogram{}
	}
	return h
}

// StartRPC starts the client span of an RPC (named "call compute.reboot_instance")
// and returns the context to make the call with and the function to call
// with its error when it is done, which ends the span and counts the call.
func (in *Instruments) StartRPC(ctx context.Context, kind RPCKind, topic, method string) (context.Context, func(error)) {
	if in == nil || !in.on {
		return ctx, func(error) {}
	}
	start := time.Now()
	ctx, span := in.tracer.Start(ctx, string(kind)+" "+activities.Name(topic, method), trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("novaflow.topic", topic), attribute.String("novaflow.method", method),
			attribute.String("novaflow.rpc.kind", string(kind)))
	}
	return ctx, func(err error) {
		outcome := Outcome(err)
		endSpan(span, err, outcome)
		attrs := metricSet(attribute.NewSet(TopicKey.String(topic), MethodKey.String(method),
			KindKey.String(string(kind)), OutcomeKey.String(outcome)))
		in.rpcClientCalls.Add(ctx, 1, attrs)
		in.rpcClientDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	}
}

// Outcome is the outcome label of an RPC's error: "ok" for none, the Type of
// a typed error (*managers.Error, also as the Temporal application error
// that carries it: InvalidArgument, NotFound, Timeout...), "canceled", or
// "error" for anything else.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok && e.Type != "" {
		return e.Type
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) || errors.Is(err, context.Canceled) {
		return OutcomeCanceled
	}
	return OutcomeError
}

// endSpan records err and the outcome (when not "") on span and ends it.
func endSpan(span trace.Span, err error, outcome string) {
	if span.IsRecording() {
		if outcome != "" {
			span.SetAttributes(attribute.String("novaflow.outcome", outcome))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// metricSet is the measurement option of an attribute set, for Add and
// Record alike.
func metricSet(s attribute.Set) metric.MeasurementOption { return metric.WithAttributeSet(s) }
