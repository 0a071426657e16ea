package codec

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// DialOption returns the gRPC option that puts codec on a Temporal client's
// connection (client.ConnectionOptions.DialOptions): every payload of every
// request (inputs, results, memos, headers, schedule actions, signals,
// queries) is encoded on its way to Temporal and decoded on its way back,
// search attributes excepted, which Temporal must read. Failures are
// encoded too: their message and stack trace move into an encoded payload
// (converter.EncodeCommonFailureAttributes) and Temporal keeps "Encoded
// failure" as the message; their type (e.g. InvalidArgument) stays visible.
//
// It works at the connection rather than in the client's DataConverter so
// that what workflow code reads from the raw protos (memos in
// workflow.GetInfo) and what the client reads back (a schedule's action
// arguments) is plain, as without the codec. Each request is copied before
// it is encoded, so that a retried request (the SDK retries below its
// interceptors) is not encoded twice and the SDK's own copies stay plain.
func DialOption(codec converter.PayloadCodec) (grpc.DialOption, error) {
	ic, err := UnaryClientInterceptor(codec)
	if err != nil {
		return nil, err
	}
	return grpc.WithChainUnaryInterceptor(ic), nil
}

// UnaryClientInterceptor is the interceptor of DialOption.
func UnaryClientInterceptor(codec converter.PayloadCodec) (grpc.UnaryClientInterceptor, error) {
	dc := converter.GetDefaultDataConverter()
	failures, err := proxy.NewFailureVisitorInterceptor(proxy.FailureVisitorInterceptorOptions{
		Outbound: &proxy.VisitFailuresOptions{Visitor: func(_ *proxy.VisitFailuresContext, f *failurepb.Failure) error {
			if f.GetEncodedAttributes() != nil {
				return nil // encoded already
			}
			return converter.EncodeCommonFailureAttributes(dc, f)
		}},
		Inbound: &proxy.VisitFailuresOptions{Visitor: func(_ *proxy.VisitFailuresContext, f *failurepb.Failure) error {
			converter.DecodeCommonFailureAttributes(dc, f)
			return nil
		}},
	})
	if err != nil {
		return nil, err
	}
	payloads, err := proxy.NewPayloadVisitorInterceptor(proxy.PayloadVisitorInterceptorOptions{
		Outbound: &proxy.VisitPayloadsOptions{
			Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
				out, err := codec.Encode(p)
				return out, statusError(err)
			},
			SkipSearchAttributes: true,
		},
		Inbound: &proxy.VisitPayloadsOptions{
			Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
				out, err := codec.Decode(p)
				return out, statusError(err)
			},
			SkipSearchAttributes: true,
		},
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if m, ok := req.(proto.Message); ok {
			req = proto.Clone(m)
		}
		// Failures first: their encoded attributes are payloads the codec
		// then encrypts; on the way back the codec decrypts first.
		return failures(ctx, method, req, reply, cc, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			return payloads(ctx, method, req, reply, cc, invoker, opts...)
		}, opts...)
	}, nil
}

// codecError is a codec failure as a gRPC error: FailedPrecondition, which
// the SDK neither retries (a payload of an unknown key stays so) nor takes
// for a fatal error of its pollers (InvalidArgument would stop a worker).
type codecError struct{ err error }

func (e *codecError) Error() string { return e.err.Error() }
func (e *codecError) Unwrap() error { return e.err }

// GRPCStatus is e as a gRPC status.
func (e *codecError) GRPCStatus() *status.Status {
	return status.New(codes.FailedPrecondition, e.err.Error())
}

func statusError(err error) error {
	if err == nil {
		return nil
	}
	return &codecError{err: err}
}
