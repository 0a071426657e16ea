package telemetry

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/workflows"
)

// TracingHeader is the Temporal header that carries a span from a starter to
// the workflow and from a workflow to its activities: the key every Temporal
// SDK uses.
const TracingHeader = "_tracer-data"

// ClientOptions returns opts with novaflow's telemetry added, on the global
// providers (those Setup installed):
//
//   - the Temporal SDK's OpenTelemetry tracing interceptor, which, set on the
//     client, also intercepts the workers made from it: spans for starting a
//     workflow, running it, starting and running each activity, all in the
//     caller's trace; its workflow and activity loggers get trace_id and
//     span_id;
//   - novaflow's interceptor, inside it: a span and metrics around each
//     manager method, periodic task and status report a worker runs, and
//     schedules created without the creator's trace, so that each scheduled
//     run is the root of its own trace;
//   - when the global meter provider is an SDK one (metrics are on) and opts
//     has none, the SDK's metrics through the OpenTelemetry metrics handler.
//
// The tracing interceptor is there even when tracing is off, so that a trace
// started elsewhere goes on through this process.
func ClientOptions(opts client.Options) client.Options {
	tp := otel.GetTracerProvider()
	var own []interceptor.ClientInterceptor
	t, err := temporalotel.NewTracer(temporalotel.TracerOptions{
		Tracer:            tp.Tracer("temporal-sdk-go"),
		TextMapPropagator: otel.GetTextMapPropagator(),
		HeaderKey:         TracingHeader,
	})
	if err != nil {
		otel.Handle(err) // never happens with these options; carry on untraced
	} else {
		own = append(own, interceptor.NewTracingInterceptor(idKeys{t}))
	}
	own = append(own, &novaflowInterceptor{in: NewInstruments()})
	opts.Interceptors = append(own, opts.Interceptors...)
	if mp, ok := otel.GetMeterProvider().(*sdkmetric.MeterProvider); ok && opts.MetricsHandler == nil {
		opts.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                mp.Meter("temporal-sdk-go"),
			OnError:              otel.Handle,
			UseMonotonicCounters: true,
		})
	}
	return opts
}

// idKeys is the contrib tracer with novaflow's log keys: the SDK's workflow
// and activity loggers get trace_id and span_id, as LogHandler adds them to
// novaflow's own lines.
type idKeys struct{ interceptor.Tracer }

func (t idKeys) GetLogger(logger log.Logger, ref interceptor.TracerSpanRef) log.Logger {
	s, ok := ref.(interface{ SpanContext() trace.SpanContext })
	if !ok || !s.SpanContext().IsValid() {
		return logger
	}
	sc := s.SpanContext()
	return log.With(logger, "trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// novaflowInterceptor is novaflow's Temporal interceptor: activities on the
// worker side, schedules on the client side.
type novaflowInterceptor struct {
	interceptor.InterceptorBase
	in *Instruments
}

func (i *novaflowInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	o := &clientOutbound{}
	o.Next = next
	return o
}

func (i *novaflowInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &activityInbound{in: i.in}
	a.Next = next
	return a
}

// clientOutbound creates schedules without the tracing header.
type clientOutbound struct {
	interceptor.ClientOutboundInterceptorBase
}

// CreateSchedule drops the span that the tracing interceptor (outside this
// one) put in the header: a schedule keeps its action's header for ever, so
// every run it starts would be a child of the creation's span, all runs of
// a schedule in one trace. Without it each run's workflow span is a root.
// (Updating a schedule sends no header at all.)
func (o *clientOutbound) CreateSchedule(ctx context.Context, in *interceptor.ScheduleClientCreateInput) (client.ScheduleHandle, error) {
	if h := interceptor.Header(ctx); h != nil {
		delete(h, TracingHeader)
	}
	return o.Next.CreateSchedule(ctx, in)
}

// activityInbound wraps each novaflow activity with a span and metrics.
type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	in *Instruments
}

func (a *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if !a.in.on {
		return a.Next.ExecuteActivity(ctx, in)
	}
	info := activity.GetInfo(ctx)
	kind, topic, what := classify(info.ActivityType.Name)
	if kind == otherActivity {
		return a.Next.ExecuteActivity(ctx, in)
	}
	start := time.Now()
	if kind == upHostsActivity || kind == reportAliveActivity {
		// Housekeeping without a span of its own: the SDK's RunActivity
		// span is enough for these small steps.
		if kind == upHostsActivity {
			topic, _, _ = strings.Cut(info.TaskQueue, ".")
		}
		res, err := a.Next.ExecuteActivity(ctx, in)
		a.in.housekeeping(ctx, topic, kind, time.Since(start))
		return res, err
	}
	ctx, span := a.in.tracer.Start(ctx, kind.spanName(topic, what))
	if span.IsRecording() {
		attrs := []attribute.KeyValue{
			attribute.String("novaflow.topic", topic),
			attribute.String("temporal.task_queue", info.TaskQueue),
			attribute.Int("temporal.attempt", int(info.Attempt)),
		}
		switch kind {
		case rpcActivity:
			attrs = append(attrs, attribute.String("novaflow.method", what))
		case periodicActivity:
			attrs = append(attrs, attribute.String("novaflow.task", what))
		}
		span.SetAttributes(attrs...)
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	took := time.Since(start)

	switch kind {
	case rpcActivity:
		endSpan(span, err, Outcome(err))
		a.in.rpcServerDuration.Record(ctx, took.Seconds(), metricSet(rpcAttributes(topic, what, err)))
	case periodicActivity:
		outcome := OutcomeOK
		if r, ok := res.(workflows.PeriodicResult); err != nil || (ok && r.Error != "") {
			outcome = OutcomeError // raised, or only logged (raise_on_error off)
		}
		endSpan(span, err, outcome)
		attrs := attribute.NewSet(TopicKey.String(topic), TaskKey.String(what), OutcomeKey.String(outcome))
		a.in.periodicRuns.Add(ctx, 1, metricSet(attrs))
		a.in.periodicDuration.Record(ctx, took.Seconds(), metricSet(attrs))
		if !info.ScheduledTime.IsZero() && !info.StartedTime.IsZero() {
			lag := max(info.StartedTime.Sub(info.ScheduledTime), 0)
			a.in.periodicLag.Record(ctx, lag.Seconds(), metricSet(attribute.NewSet(TopicKey.String(topic), TaskKey.String(what))))
		}
		a.in.housekeeping(ctx, topic, kind, took)
	case reportActivity:
		outcome := OutcomeSent
		if err != nil {
			outcome = OutcomeFailed
		}
		endSpan(span, err, outcome)
		a.in.reports.Add(ctx, 1, metricSet(attribute.NewSet(TopicKey.String(topic), OutcomeKey.String(outcome))))
		a.in.housekeeping(ctx, topic, kind, took)
	}
	return res, err
}

// housekeeping records the time a housekeeping activity took.
func (in *Instruments) housekeeping(ctx context.Context, topic string, kind activityKind, took time.Duration) {
	in.housekeepingDuration.Record(ctx, took.Seconds(),
		metricSet(attribute.NewSet(TopicKey.String(topic), ActivityKey.String(kind.housekeepingName()))))
}

// activityKind says what a novaflow activity runs.
type activityKind int

const (
	otherActivity       activityKind = iota
	rpcActivity                      // a manager method: <topic>.<method>
	periodicActivity                 // a periodic task: <topic>.periodic.<task>
	reportActivity                   // the status report: <topic>.report_state
	reportAliveActivity              // a host's part of it: <topic>.report_alive
	upHostsActivity                  // the list of a topic's up hosts (UpHostsName)
)

// housekeepingName is the activity label of MetricHousekeepingDuration.
func (k activityKind) housekeepingName() string {
	switch k {
	case periodicActivity:
		return "periodic"
	case reportActivity:
		return workflows.ReportStateMethod
	case reportAliveActivity:
		return "report_alive"
	case upHostsActivity:
		return "up_hosts"
	}
	return ""
}

// spanName is the name of the span around the activity's work: "compute.reboot_instance",
// "periodic compute.update_available_resource", "report compute".
func (k activityKind) spanName(topic, what string) string {
	switch k {
	case periodicActivity:
		return "periodic " + activities.Name(topic, what)
	case reportActivity:
		return "report " + topic
	}
	return activities.Name(topic, what)
}

// classify tells an activity by its name (package activities names them):
// the topic and the method or task it runs.
func classify(name string) (kind activityKind, topic, what string) {
	if name == workflows.UpHostsName {
		return upHostsActivity, "", ""
	}
	topic, rest, ok := strings.Cut(name, ".")
	if !ok || topic == "" || rest == "" {
		return otherActivity, "", ""
	}
	if name == workflows.ReportAliveName(topic) {
		return reportAliveActivity, topic, ""
	}
	if name == workflows.ReportStateName(topic) {
		return reportActivity, topic, workflows.ReportStateMethod
	}
	if task, ok := strings.CutPrefix(rest, "periodic."); ok && workflows.PeriodicName(topic, task) == name {
		return periodicActivity, topic, task
	}
	return rpcActivity, topic, rest
}
