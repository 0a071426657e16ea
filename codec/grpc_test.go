package codec

import (
	"context"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func startRequest(t testing.TB) *workflowservice.StartWorkflowExecutionRequest {
	return &workflowservice.StartWorkflowExecutionRequest{
		Input:  &commonpb.Payloads{Payloads: []*commonpb.Payload{payload(t, map[string]string{"name": "secret-name", "image": "secret-image"})}},
		Memo:   &commonpb.Memo{Fields: map[string]*commonpb.Payload{"NovaflowVersion": payload(t, "1.0")}},
		Header: &commonpb.Header{Fields: map[string]*commonpb.Payload{"traceparent": payload(t, "00-secret-trace")}},
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			"NovaflowMethod": payload(t, "create_instance"),
		}},
	}
}

// TestInterceptor: what reaches the server is encrypted (search attributes
// aside) while the caller's request stays plain, a retried attempt is not
// encrypted twice, failures' messages are encoded, and replies come back
// decoded; a codec failure is a FailedPrecondition naming the key id.
func TestInterceptor(t *testing.T) {
	c := New(ring(t, "k1", map[string]string{"k1": newKey(t)}))
	ic, err := UnaryClientInterceptor(c)
	if err != nil {
		t.Fatal(err)
	}
	req := startRequest(t)
	orig := proto.Clone(req)
	var sent []*workflowservice.StartWorkflowExecutionRequest
	invoker := func(_ context.Context, _ string, r, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		sent = append(sent, r.(*workflowservice.StartWorkflowExecutionRequest))
		return nil
	}
	for range 2 { // two attempts of one request, as the SDK's retry makes
		if err := ic(context.Background(), "/start", req, &workflowservice.StartWorkflowExecutionResponse{}, nil, invoker); err != nil {
			t.Fatal(err)
		}
	}
	if !proto.Equal(req, orig) {
		t.Fatal("the interceptor changed the caller's request")
	}
	for _, s := range sent {
		b, _ := proto.Marshal(s)
		for _, v := range []string{"secret-name", "secret-trace", `"1.0"`} {
			if strings.Contains(string(b), v) {
				t.Errorf("sent request holds %q", v)
			}
		}
		if !strings.Contains(string(b), "create_instance") {
			t.Error("search attribute encrypted")
		}
		dec, err := c.Decode([]*commonpb.Payload{s.GetInput().GetPayloads()[0]})
		if err != nil || string(dec[0].GetMetadata()[converter.MetadataEncoding]) != "json/plain" {
			t.Fatalf("one decode of what was sent: %v %v (encrypted twice?)", dec, err)
		}
	}

	// A reply: a history with an encrypted result and an encoded failure.
	enc, _ := c.Encode([]*commonpb.Payload{payload(t, "secret-result")})
	f := &failurepb.Failure{Message: "secret-message", StackTrace: "at secret"}
	if err := converter.EncodeCommonFailureAttributes(converter.GetDefaultDataConverter(), f); err != nil {
		t.Fatal(err)
	}
	f.EncodedAttributes = must(c.Encode([]*commonpb.Payload{f.EncodedAttributes}))[0]
	reply := &workflowservice.GetWorkflowExecutionHistoryResponse{}
	err = ic(context.Background(), "/history", &workflowservice.GetWorkflowExecutionHistoryRequest{}, reply, nil,
		func(_ context.Context, _ string, _, r any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			r.(*workflowservice.GetWorkflowExecutionHistoryResponse).History = &historypb.History{Events: []*historypb.HistoryEvent{
				{Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: &commonpb.Payloads{Payloads: enc}}}},
				{Attributes: &historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes{WorkflowExecutionFailedEventAttributes: &historypb.WorkflowExecutionFailedEventAttributes{Failure: f}}},
			}}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	ev := reply.GetHistory().GetEvents()
	if got := string(ev[0].GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()[0].GetData()); got != `"secret-result"` {
		t.Errorf("decoded result %q", got)
	}
	if got := ev[1].GetWorkflowExecutionFailedEventAttributes().GetFailure(); got.GetMessage() != "secret-message" || got.GetStackTrace() != "at secret" {
		t.Errorf("decoded failure %q %q", got.GetMessage(), got.GetStackTrace())
	}

	// An outgoing failure is encoded, once.
	fr := &workflowservice.RespondActivityTaskFailedRequest{Failure: &failurepb.Failure{Message: "secret-message"}}
	var sentF *workflowservice.RespondActivityTaskFailedRequest
	if err := ic(context.Background(), "/fail", fr, &workflowservice.RespondActivityTaskFailedResponse{}, nil,
		func(_ context.Context, _ string, r, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			sentF = r.(*workflowservice.RespondActivityTaskFailedRequest)
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	if b, _ := proto.Marshal(sentF); strings.Contains(string(b), "secret-message") || sentF.GetFailure().GetMessage() != "Encoded failure" {
		t.Errorf("sent failure %v", sentF.GetFailure())
	}

	// A reply encrypted with an unknown key.
	other := New(ring(t, "k9", map[string]string{"k9": newKey(t)}))
	foreign := must(other.Encode([]*commonpb.Payload{payload(t, "x")}))
	err = ic(context.Background(), "/history", &workflowservice.GetWorkflowExecutionHistoryRequest{}, &workflowservice.GetWorkflowExecutionHistoryResponse{}, nil,
		func(_ context.Context, _ string, _, r any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			r.(*workflowservice.GetWorkflowExecutionHistoryResponse).History = &historypb.History{Events: []*historypb.HistoryEvent{
				{Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: &commonpb.Payloads{Payloads: foreign}}}},
			}}
			return nil
		})
	if s, _ := status.FromError(err); s.Code() != codes.FailedPrecondition || !strings.Contains(s.Message(), `"k9"`) {
		t.Fatalf("unknown key in a reply: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkInterceptor is the CPU the codec adds to a request that starts a
// call (copy, encrypt input, memo, header) and to a reply of a call's
// history (decrypt its five payloads).
func BenchmarkInterceptor(b *testing.B) {
	c := New(ring(b, "k1", map[string]string{"k1": newKey(b)}))
	ic, err := UnaryClientInterceptor(c)
	if err != nil {
		b.Fatal(err)
	}
	req := startRequest(b)
	noop := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	b.Run("start-request", func(b *testing.B) {
		for b.Loop() {
			if err := ic(context.Background(), "/start", req, &workflowservice.StartWorkflowExecutionResponse{}, nil, noop); err != nil {
				b.Fatal(err)
			}
		}
	})
	var events []*historypb.HistoryEvent
	for range 5 {
		enc := must(c.Encode([]*commonpb.Payload{payload(b, map[string]string{"name": "n", "uuid": "3f1c0a36-2d0c-4a8e-9d0e-6d2c4b0f8a11"})}))
		events = append(events, &historypb.HistoryEvent{Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{Result: &commonpb.Payloads{Payloads: enc}}}})
	}
	// The invoker makes a fresh reply each time, as gRPC does; the
	// baseline is that alone.
	fill := func(_ context.Context, _ string, _, r any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		r.(*workflowservice.GetWorkflowExecutionHistoryResponse).History = proto.Clone(&historypb.History{Events: events}).(*historypb.History)
		return nil
	}
	b.Run("history-reply-5-payloads-baseline", func(b *testing.B) {
		for b.Loop() {
			_ = fill(context.Background(), "/history", nil, &workflowservice.GetWorkflowExecutionHistoryResponse{}, nil)
		}
	})
	b.Run("history-reply-5-payloads", func(b *testing.B) {
		for b.Loop() {
			if err := ic(context.Background(), "/history", &workflowservice.GetWorkflowExecutionHistoryRequest{}, &workflowservice.GetWorkflowExecutionHistoryResponse{}, nil, fill); err != nil {
				b.Fatal(err)
			}
		}
	})
}
