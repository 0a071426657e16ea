package compute

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
)

// TestTraceDriver: each driver call is a span under the caller's; with
// tracing off the driver is not wrapped.
func TestTraceDriver(t *testing.T) {
	f, err := fake.Open(compute.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	otel.SetTracerProvider(tracenoop.NewTracerProvider())
	if traceDriver("fake", f) != compute.Driver(f) {
		t.Fatal("tracing is off, but the driver was wrapped")
	}

	spans := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))

	d := traceDriver("fake", f)
	if untracedDriver(d) != compute.Driver(f) || untracedDriver(f) != compute.Driver(f) {
		t.Fatal("untracedDriver does not give the fake back")
	}
	if untracedDriver(traceDriver("fake", d)) != compute.Driver(f) {
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
