package compute

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/telemetry"
)

// traceDriver returns d with a span around each call that takes a context
// ("compute.driver Spawn", with the driver's name and the instance), a child
// of the caller's span: the manager method that called it. name is the
// driver's registered name (fake, process). untracedDriver gives d back.
// When tracing is off (telemetry.Tracing) d is returned as it is, at no
// cost.
func traceDriver(name string, d compute.Driver) compute.Driver {
	if d == nil {
		return nil
	}
	if t, ok := d.(*tracedCompute); ok {
		d = t.Driver
	}
	if !telemetry.Tracing() {
		return d
	}
	return &tracedCompute{Driver: d, spans: telemetry.NewSpans(), name: attribute.String("novaflow.driver", name)}
}

// untracedDriver returns the driver that traceDriver wrapped, or d itself.
func untracedDriver(d compute.Driver) compute.Driver {
	if t, ok := d.(*tracedCompute); ok {
		return t.Driver
	}
	return d
}

// tracedCompute is a compute.Driver with spans.
type tracedCompute struct {
	compute.Driver
	spans telemetry.Spans
	name  attribute.KeyValue
}

var _ compute.Driver = (*tracedCompute)(nil)

// start starts span name for the instance uuid ("" for none), and returns
// the function that ends it with the call's error.
func (t *tracedCompute) start(ctx context.Context, name, uuid string) (context.Context, func(error)) {
	if uuid == "" {
		return t.spans.Start(ctx, name, t.name)
	}
	return t.spans.Start(ctx, name, t.name, attribute.String("novaflow.instance", uuid))
}

func (t *tracedCompute) Spawn(ctx context.Context, inst compute.Instance) error {
	ctx, end := t.start(ctx, "compute.driver Spawn", inst.UUID)
	err := t.Driver.Spawn(ctx, inst)
	end(err)
	return err
}

func (t *tracedCompute) PowerOff(ctx context.Context, uuid string, timeout time.Duration) error {
	ctx, end := t.start(ctx, "compute.driver PowerOff", uuid)
	err := t.Driver.PowerOff(ctx, uuid, timeout)
	end(err)
	return err
}

func (t *tracedCompute) PowerOn(ctx context.Context, uuid string) error {
	ctx, end := t.start(ctx, "compute.driver PowerOn", uuid)
	err := t.Driver.PowerOn(ctx, uuid)
	end(err)
	return err
}

func (t *tracedCompute) Reboot(ctx context.Context, uuid string, hard bool) error {
	ctx, end := t.start(ctx, "compute.driver Reboot", uuid)
	err := t.Driver.Reboot(ctx, uuid, hard)
	end(err)
	return err
}

func (t *tracedCompute) Destroy(ctx context.Context, uuid string) error {
	ctx, end := t.start(ctx, "compute.driver Destroy", uuid)
	err := t.Driver.Destroy(ctx, uuid)
	end(err)
	return err
}

func (t *tracedCompute) Info(ctx context.Context, uuid string) (compute.InstanceInfo, error) {
	ctx, end := t.start(ctx, "compute.driver Info", uuid)
	info, err := t.Driver.Info(ctx, uuid)
	end(err)
	return info, err
}

func (t *tracedCompute) List(ctx context.Context) ([]compute.InstanceInfo, error) {
	ctx, end := t.start(ctx, "compute.driver List", "")
	out, err := t.Driver.List(ctx)
	end(err)
	return out, err
}

func (t *tracedCompute) Resources(ctx context.Context) (compute.Resources, error) {
	ctx, end := t.start(ctx, "compute.driver Resources", "")
	out, err := t.Driver.Resources(ctx)
	end(err)
	return out, err
}
