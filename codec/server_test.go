package codec

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func TestHandler(t *testing.T) {
	c := New(ring(t, "k1", map[string]string{"k1": newKey(t)}))
	h, err := NewHandler(c, HandlerOptions{Authorizer: StaticToken("s3cret"), Origins: []string{"http://localhost:8233"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	remote := func(auth string) converter.PayloadCodec {
		return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL, ModifyRequest: func(r *http.Request) error {
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			return nil
		}})
	}
	in := []*commonpb.Payload{payload(t, "request field")}
	enc, err := remote("Bearer s3cret").Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc[0].Metadata[converter.MetadataEncoding]) != Encoding {
		t.Fatalf("/encode gave %v", enc[0].Metadata)
	}
	dec, err := remote("Bearer s3cret").Decode(enc)
	if err != nil || string(dec[0].Data) != `"request field"` {
		t.Fatalf("/decode gave %v, %v", dec, err)
	}
	// What the local codec encrypted, the server decrypts, and back.
	local, _ := c.Encode(in)
	if dec, err := remote("bearer s3cret").Decode(local); err != nil || string(dec[0].Data) != `"request field"` {
		t.Fatalf("/decode of a local payload: %v, %v", dec, err)
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic s3cret", "Bearer", "s3cret"} {
		if _, err := remote(auth).Decode(enc); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("Authorization %q: %v, want 401", auth, err)
		}
	}

	do := func(method, path, origin, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"payloads":[]}`))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The Web UI's preflight needs no token and gets its origin back.
	pre := do(http.MethodOptions, "/decode", "http://localhost:8233", "")
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") || pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if r := do(http.MethodPost, "/decode", "http://localhost:8233", "Bearer s3cret"); r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("POST from the Web UI: %d %v", r.StatusCode, r.Header)
	}
	if r := do(http.MethodPost, "/decode", "http://evil.example", "Bearer s3cret"); r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", r.StatusCode, r.Header)
	}
	if r := do(http.MethodOptions, "/decode", "http://evil.example", ""); r.StatusCode != http.StatusForbidden {
		t.Fatalf("other origin's preflight: %d", r.StatusCode)
	}
	if r := do(http.MethodGet, "/decode", "", "Bearer s3cret"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	if r := do(http.MethodPost, "/other", "", "Bearer s3cret"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: %d", r.StatusCode)
	}
	// A {namespace} prefix, as the CLI and the Web UI may put in the endpoint.
	if r := do(http.MethodPost, "/default/decode", "", "Bearer s3cret"); r.StatusCode != http.StatusOK {
		t.Fatalf("namespaced path: %d", r.StatusCode)
	}
	// A payload of an unknown key: 400 naming the key id.
	other := New(ring(t, "k9", map[string]string{"k9": newKey(t)}))
	foreign, _ := other.Encode(in)
	if _, err := remote("Bearer s3cret").Decode(foreign); err == nil || !strings.Contains(err.Error(), `"k9"`) {
		t.Fatalf("unknown key through the server: %v", err)
	}
}

func TestHandlerAuthorizer(t *testing.T) {
	c := New(ring(t, "k1", map[string]string{"k1": newKey(t)}))
	var seen AuthRequest
	denyEncode := AuthorizerFunc(func(_ context.Context, r AuthRequest) error {
		seen = r
		if r.Token != "jwt" {
			return ErrUnauthorized
		}
		if r.Operation == OpEncode {
			return errors.New("role reader may not encode")
		}
		return nil
	})
	h, err := NewHandler(c, HandlerOptions{Authorizer: denyEncode})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	codec := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL, ModifyRequest: func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer jwt")
		r.Header.Set("X-Namespace", "prod")
		return nil
	}})
	if _, err := codec.Encode([]*commonpb.Payload{payload(t, 1)}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("encode denied: %v", err)
	}
	if _, err := codec.Decode([]*commonpb.Payload{payload(t, 1)}); err != nil {
		t.Fatalf("decode allowed: %v", err)
	}
	if seen != (AuthRequest{Token: "jwt", Operation: OpDecode, Namespace: "prod"}) {
		t.Fatalf("authorizer saw %+v", seen)
	}
	if _, err := NewHandler(c, HandlerOptions{}); err == nil {
		t.Fatal("a handler without an authorizer")
	}
}
