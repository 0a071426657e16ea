package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Spans starts spans on one tracer: a helper for code that traces its own
// steps (a driver wrapper, a manager).
type Spans struct {
	tracer trace.Tracer
}

// NewSpans returns a Spans on the global tracer provider (Setup's).
func NewSpans() Spans { return Spans{tracer: otel.GetTracerProvider().Tracer(ScopeName)} }

// Start starts span name, a child of ctx's span, with attrs, and returns the
// context to work in and the function to call with the work's error, which
// ends the span. With tracing off it costs a no-op span.
func (s Spans) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	ctx, span := s.tracer.Start(ctx, name)
	if span.IsRecording() && len(attrs) > 0 {
		span.SetAttributes(attrs...)
	}
	return ctx, func(err error) { endSpan(span, err, "") }
}

// TraceComputeDriver returns d with a span around each call that takes a
// context ("compute.driver Spawn", with the driver's name and the instance),
// a child of the caller's span: the manager method that called it. name is
// the driver's registered name (fake, process). UntracedComputeDriver gives
// d back. When tracing is off (the global tracer provider is a no-op) d is
// returned as it is, at no cost.
func TraceComputeDriver(name string, d compute.Driver) compute.Driver {
	if d == nil {
		return nil
	}
	if t, ok := d.(*tracedCompute); ok {
		d = t.Driver
	}
	if _, off := otel.GetTracerProvider().(tracenoop.TracerProvider); off {
		return d
	}
	return &tracedCompute{Driver: d, spans: NewSpans(), name: attribute.String("novaflow.driver", name)}
}

// UntracedComputeDriver returns the driver that TraceComputeDriver wrapped,
// or d itself.
func UntracedComputeDriver(d compute.Driver) compute.Driver {
	if t, ok := d.(*tracedCompute); ok {
		return t.Driver
	}
	return d
}

// tracedCompute is a compute.Driver with spans.
type tracedCompute struct {
	compute.Driver
	spans Spans
	name  attribute.KeyValue
}

var _ compute.Driver = (*tracedCompute)(nil)

// start starts span name for the instance uuid ("" for none).
func (t *tracedCompute) start(ctx context.Context, name, uuid string) (context.Context, trace.Span) {
	ctx, span := t.spans.tracer.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(t.name)
		if uuid != "" {
			span.SetAttributes(attribute.String("novaflow.instance", uuid))
		}
	}
	return ctx, span
}

func (t *tracedCompute) Spawn(ctx context.Context, inst compute.Instance) error {
	ctx, span := t.start(ctx, "compute.driver Spawn", inst.UUID)
	err := t.Driver.Spawn(ctx, inst)
	endSpan(span, err, "")
	return err
}

func (t *tracedCompute) PowerOff(ctx context.Context, uuid string, timeout time.Duration) error {
	ctx, span := t.start(ctx, "compute.driver PowerOff", uuid)
	err := t.Driver.PowerOff(ctx, uuid, timeout)
	endSpan(span, err, "")
	return err
}

func (t *tracedCompute) PowerOn(ctx context.Context, uuid string) error {
	ctx, span := t.start(ctx, "compute.driver PowerOn", uuid)
	err := t.Driver.PowerOn(ctx, uuid)
	endSpan(span, err, "")
	return err
}

func (t *tracedCompute) Reboot(ctx context.Context, uuid string, hard bool) error {
	ctx, span := t.start(ctx, "compute.driver Reboot", uuid)
	err := t.Driver.Reboot(ctx, uuid, hard)
	endSpan(span, err, "")
	return err
}

func (t *tracedCompute) Destroy(ctx context.Context, uuid string) error {
	ctx, span := t.start(ctx, "compute.driver Destroy", uuid)
	err := t.Driver.Destroy(ctx, uuid)
	endSpan(span, err, "")
	return err
}

func (t *tracedCompute) Info(ctx context.Context, uuid string) (compute.InstanceInfo, error) {
	ctx, span := t.start(ctx, "compute.driver Info", uuid)
	info, err := t.Driver.Info(ctx, uuid)
	endSpan(span, err, "")
	return info, err
}

func (t *tracedCompute) List(ctx context.Context) ([]compute.InstanceInfo, error) {
	ctx, span := t.start(ctx, "compute.driver List", "")
	out, err := t.Driver.List(ctx)
	endSpan(span, err, "")
	return out, err
}

func (t *tracedCompute) Resources(ctx context.Context) (compute.Resources, error) {
	ctx, span := t.start(ctx, "compute.driver Resources", "")
	out, err := t.Driver.Resources(ctx)
	endSpan(span, err, "")
	return out, err
}
