package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
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

// Tracing reports whether spans are recorded: false while the global tracer
// provider is the no-op one (Setup without tracing), so that a wrapper that
// only adds spans, such as a traced driver, can step aside at no cost.
func Tracing() bool {
	_, off := otel.GetTracerProvider().(tracenoop.TracerProvider)
	return !off
}
