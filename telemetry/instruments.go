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
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// ScopeName is the instrumentation scope of novaflow's own spans and
// metrics.
const ScopeName = "github.com/novaflow/novaflow"

// The names of the RPC metrics: those of the OpenTelemetry RPC semantic
// conventions (go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv). In
// Prometheus format dots become underscores and histograms in seconds end
// in _seconds (rpc_client_call_duration_seconds_bucket, _count, _sum: the
// count is the number of calls); docs/observability.md lists them with the
// names they replaced.
var (
	// MetricRPCClientDuration is how long the RPC calls, casts and fanouts a
	// process made (package rpc) took, as the caller saw them: a cast until
	// it was recorded, a call until its result; by rpc.method, error.type and
	// novaflow.rpc.kind.
	MetricRPCClientDuration = rpcconv.ClientCallDuration{}.Name()
	// MetricRPCServerDuration is how long the manager methods a service ran
	// for RPC calls took, by rpc.method and error.type.
	MetricRPCServerDuration = rpcconv.ServerCallDuration{}.Name()
)

// The names of novaflow's metrics that are not RPC, in the novaflow
// namespace (novaflow_periodic_runs_total in Prometheus format).
const (
	// MetricPeriodicRuns counts the runs of periodic tasks on each host, by
	// topic, task and outcome (ok or error, raised or only logged).
	MetricPeriodicRuns = "novaflow.periodic.runs"
	// MetricPeriodicDuration is how long periodic tasks ran.
	MetricPeriodicDuration = "novaflow.periodic.duration"
	// MetricPeriodicLag is how long a host's part of a periodic run waited
	// before the host took it (from the run dispatching it to the host
	// starting it), by topic and task: a host that falls behind shows here.
	MetricPeriodicLag = "novaflow.periodic.lag"
	// MetricHousekeepingDuration is the time a process spent in the
	// framework's housekeeping activities, by topic and activity
	// (report_state, report_alive, up_hosts, periodic): what keeping the
	// services table and the periodic tasks going costs, in worker time; its
	// count is the number of those activities, each a Temporal action.
	MetricHousekeepingDuration = "novaflow.housekeeping.duration"
	// MetricReports counts the status reports a service wrote, by topic and
	// outcome: sent or failed.
	MetricReports = "novaflow.reports"
	// MetricServices is the number of services by topic, state (up or down,
	// nova's is_up) and status (enabled or disabled), as the services table
	// shows them when the metrics are collected.
	MetricServices = "novaflow.services"
)

// RPCSystem is the rpc.system.name of novaflow's RPC: manager methods called
// through Temporal activities (package rpc).
const RPCSystem rpcconv.SystemNameAttr = "novaflow"

// Attribute keys of the RPC metrics: the semantic conventions' rpc.system.name,
// rpc.method (the activity name, compute.reboot_instance) and error.type (set
// only on failure: ErrorType), and novaflow's own kind of call.
const (
	RPCSystemKey = semconv.RPCSystemNameKey
	RPCMethodKey = semconv.RPCMethodKey
	ErrorTypeKey = semconv.ErrorTypeKey
	RPCKindKey   = attribute.Key("novaflow.rpc.kind")
)

// Attribute keys of novaflow's other metrics; the spans carry the same values
// under the novaflow. prefix.
const (
	TopicKey    = attribute.Key("topic")
	OutcomeKey  = attribute.Key("outcome")
	TaskKey     = attribute.Key("task")
	StateKey    = attribute.Key("state")
	StatusKey   = attribute.Key("status")
	ActivityKey = attribute.Key("activity")
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

	rpcClientDuration    metric.Float64Histogram
	rpcServerDuration    metric.Float64Histogram
	periodicRuns         metric.Int64Counter
	periodicDuration     metric.Float64Histogram
	periodicLag          metric.Float64Histogram
	housekeepingDuration metric.Float64Histogram
	reports              metric.Int64Counter
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
	client, err := rpcconv.NewClientCallDuration(in.meter)
	if err != nil {
		otel.Handle(err)
	}
	in.rpcClientDuration = client.Inst()
	server, err := rpcconv.NewServerCallDuration(in.meter)
	if err != nil {
		otel.Handle(err)
	}
	in.rpcServerDuration = server.Inst()
	in.periodicRuns = in.counter(MetricPeriodicRuns, "{run}", "Periodic task runs, by topic, task and outcome")
	in.periodicDuration = in.histogram(MetricPeriodicDuration, "How long periodic tasks ran")
	in.periodicLag = in.histogram(MetricPeriodicLag, "How long a host's part of a periodic run waited before the host took it")
	in.housekeepingDuration = in.histogram(MetricHousekeepingDuration, "Time spent in the framework's housekeeping activities, by topic and activity")
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
		endSpan(span, err, Outcome(err))
		in.rpcClientDuration.Record(ctx, time.Since(start).Seconds(),
			metricSet(rpcAttributes(topic, method, err, RPCKindKey.String(string(kind)))))
	}
}

// rpcAttributes are the attributes of an RPC metric: rpc.system.name,
// rpc.method, error.type when err is not nil, and extra.
func rpcAttributes(topic, method string, err error, extra ...attribute.KeyValue) attribute.Set {
	kv := append([]attribute.KeyValue{RPCSystemKey.String(string(RPCSystem)), RPCMethodKey.String(activities.Name(topic, method))}, extra...)
	if t := ErrorType(err); t != "" {
		kv = append(kv, ErrorTypeKey.String(t))
	}
	return attribute.NewSet(kv...)
}

// ErrorType is the error.type of an RPC's error: "" for none (the attribute
// is left out), the Type of a typed error (as Outcome), "canceled", or
// "_OTHER" (the semantic conventions' value for an error without a type) for
// anything else.
func ErrorType(err error) string {
	switch o := Outcome(err); o {
	case OutcomeOK:
		return ""
	case OutcomeError:
		return semconv.ErrorTypeOther.Value.AsString()
	default:
		return o
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
