package codec

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// Operation is what a codec server request asks for.
type Operation string

// The operations of the codec server protocol.
const (
	OpEncode Operation = "encode"
	OpDecode Operation = "decode"
)

// AuthRequest is what an Authorizer judges: the bearer token of the
// request's Authorization header, the operation and the namespace the
// request names (X-Namespace, "" when absent).
type AuthRequest struct {
	Token     string
	Operation Operation
	Namespace string
}

// Authorizer decides whether a codec server request may run. A JWT
// verifier checks the token's signature, expiry and audience, and may let
// only some roles decode. An error matching ErrUnauthorized (a bad token)
// answers 401, any other error 403 (a valid token that may not).
type Authorizer interface {
	Authorize(ctx context.Context, r AuthRequest) error
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, r AuthRequest) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, r AuthRequest) error { return f(ctx, r) }

// ErrUnauthorized is the error of a request without a valid token.
var ErrUnauthorized = errors.New("codec server: missing or invalid bearer token")

// StaticToken is an Authorizer that accepts one token (compared in constant
// time), for any operation and namespace.
func StaticToken(token string) Authorizer {
	want := sha256.Sum256([]byte(token))
	return AuthorizerFunc(func(_ context.Context, r AuthRequest) error {
		got := sha256.Sum256([]byte(r.Token))
		if token == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			return ErrUnauthorized
		}
		return nil
	})
}

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Authorizer judges every /encode and /decode request; required.
	Authorizer Authorizer
	// Origins are the browser origins (scheme://host:port) that may call
	// the server: the Temporal Web UI's. "*" allows any origin. Requests
	// without an Origin header (the temporal CLI) are not affected.
	Origins []string
	// MaxBodyBytes bounds a request's body; default 4 MiB (Temporal's
	// payloads are at most 2 MB).
	MaxBodyBytes int64
}

// NewHandler returns the HTTP handler of a codec server for codec: POST
// .../encode and .../decode with Temporal's protocol (a JSON
// temporal.api.common.v1.Payloads in and out, converter.NewPayloadCodecHTTPHandler),
// each authorized by opts.Authorizer from an "Authorization: Bearer <token>"
// header, with CORS for opts.Origins (preflight requests need no token).
func NewHandler(codec converter.PayloadCodec, opts HandlerOptions) (http.Handler, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("codec server: HandlerOptions.Authorizer is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	inner := converter.NewPayloadCodecHTTPHandler(codec)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" {
			if !allowedOrigin(opts.Origins, origin) {
				http.Error(w, "codec server: origin not allowed", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions {
				allow := "Authorization, Content-Type, X-Namespace"
				if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
					allow += ", " + asked // an allowed origin may send what its page needs
				}
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", allow)
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		var op Operation
		switch {
		case strings.HasSuffix(r.URL.Path, "/encode"):
			op = OpEncode
		case strings.HasSuffix(r.URL.Path, "/decode"):
			op = OpDecode
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "codec server: use POST", http.StatusMethodNotAllowed)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="novaflow codec server"`)
			http.Error(w, ErrUnauthorized.Error(), http.StatusUnauthorized)
			return
		}
		if err := opts.Authorizer.Authorize(r.Context(), AuthRequest{Token: token, Operation: op, Namespace: r.Header.Get("X-Namespace")}); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="novaflow codec server", error="invalid_token"`)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes)
		inner.ServeHTTP(w, r)
	}), nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func allowedOrigin(origins []string, origin string) bool {
	return slices.Contains(origins, "*") || slices.Contains(origins, strings.TrimSuffix(origin, "/"))
}
