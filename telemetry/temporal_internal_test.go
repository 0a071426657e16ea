package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// TestClassify keeps classify in step with how package activities names
// activities.
func TestClassify(t *testing.T) {
	cases := []struct {
		name        string
		kind        activityKind
		topic, what string
	}{
		{activities.Name("compute", "reboot_instance"), rpcActivity, "compute", "reboot_instance"},
		{activities.Name("scheduler", "select_destinations"), rpcActivity, "scheduler", "select_destinations"},
		{workflows.PeriodicName("compute", "update_available_resource"), periodicActivity, "compute", "update_available_resource"},
		{workflows.ReportStateName("compute"), reportActivity, "compute", workflows.ReportStateMethod},
		{workflows.UpHostsName, upHostsActivity, "", ""},
		{workflows.ReportAliveName("compute"), reportAliveActivity, "compute", ""},
		{"nodot", otherActivity, "", ""},
		{".x", otherActivity, "", ""},
	}
	for _, c := range cases {
		kind, topic, what := classify(c.name)
		if kind != c.kind || topic != c.topic || what != c.what {
			t.Errorf("classify(%q) = %v %q %q, want %v %q %q", c.name, kind, topic, what, c.kind, c.topic, c.what)
		}
	}
}

func TestOutcome(t *testing.T) {
	notFound := managers.NotFound("instance", "x")
	cases := []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{notFound, managers.NotFoundType},
		{fmt.Errorf("wrapped: %w", notFound), managers.NotFoundType},
		{activities.ToApplicationError(&managers.Error{Type: managers.TimeoutType, Message: "late"}), managers.TimeoutType},
		{temporal.NewCanceledError(), OutcomeCanceled},
		{context.Canceled, OutcomeCanceled},
		{errors.New("boom"), OutcomeError},
		{temporal.NewApplicationError("boom", "*errors.errorString"), OutcomeError},
	}
	for _, c := range cases {
		if got := Outcome(c.err); got != c.want {
			t.Errorf("Outcome(%v) = %q, want %q", c.err, got, c.want)
		}
		// error.type: left out on success, _OTHER for an untyped error.
		want := c.want
		switch want {
		case OutcomeOK:
			want = ""
		case OutcomeError:
			want = "_OTHER"
		}
		if got := ErrorType(c.err); got != want {
			t.Errorf("ErrorType(%v) = %q, want %q", c.err, got, want)
		}
	}
}

// TestRPCMetricNames: the RPC metrics carry the names of the semantic
// conventions.
func TestRPCMetricNames(t *testing.T) {
	if MetricRPCClientDuration != "rpc.client.call.duration" || MetricRPCServerDuration != "rpc.server.call.duration" {
		t.Errorf("RPC metrics %q, %q", MetricRPCClientDuration, MetricRPCServerDuration)
	}
}

// TestSDKLoggersGetTraceIDs: the Temporal SDK's workflow and activity
// loggers get the span's IDs under LogHandler's keys.
func TestSDKLoggersGetTraceIDs(t *testing.T) {
	ctx, sc := spanContext(context.Background())
	tracer, err := temporalotel.NewTracer(temporalotel.TracerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	base := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	idKeys{tracer}.GetLogger(base, tracer.SpanFromContext(ctx)).Info("in an activity")
	want := "trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String()
	if !strings.Contains(buf.String(), want) {
		t.Errorf("SDK line %q lacks %q", buf.String(), want)
	}
	buf.Reset()
	idKeys{tracer}.GetLogger(base, nil).Info("no span")
	if strings.Contains(buf.String(), "trace_id") {
		t.Errorf("line without a span has IDs: %q", buf.String())
	}
}
