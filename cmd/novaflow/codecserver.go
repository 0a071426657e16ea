package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/worker"
)

func newCodecServerCmd() *cobra.Command {
	return &cobra.Command{
		Use: "codec-server",
		Example: `  NOVAFLOW_PAYLOAD_KEYS_FILE=keys.json NOVAFLOW_CODEC_SERVER_TOKEN_FILE=token novaflow codec-server
  NOVAFLOW_CODEC_SERVER_ADDRESS=127.0.0.1:8081 novaflow codec-server`,
		Short: "Serve the payload codec over HTTP for the Temporal Web UI and CLI",
		Long: `Serve the payload codec of NOVAFLOW_PAYLOAD_KEYS_FILE over HTTP with Temporal's
codec server protocol (POST /encode and /decode, also under a /{namespace}/
prefix), so that an authorized operator reads encrypted requests and results:

  temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8081 \
      --codec-auth "Bearer $(cat token)"

The Web UI (its codec endpoint setting, "Pass the user access token" on)
sends the access token of a user signed in with OIDC, which NOVAFLOW_AUTH's
issuer must have issued; the static token serves the CLI and scripts
(docs/security.md).

Every request needs "Authorization: Bearer <token>": the token of
NOVAFLOW_CODEC_SERVER_TOKEN_FILE, or with NOVAFLOW_AUTH on a token of its
issuer that the policy's rule codec:decode (or codec:encode) allows, by
default rule:admin. Browsers may call it from NOVAFLOW_CODEC_SERVER_ORIGINS
only. It listens on NOVAFLOW_CODEC_SERVER_ADDRESS
(loopback by default: put TLS in front of it to serve other machines).
SIGINT or SIGTERM stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := processEnv{}.settings()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serveCodec(ctx, cfg, worker.NewLogger(cmd.ErrOrStderr(), cfg, nil), func(addr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "codec server on http://%s (origins %s)\n", addr, cfg.CodecServerOrigins)
			})
		},
	}
}

// codecHandler builds the codec server's handler from cfg: the codec of
// NOVAFLOW_PAYLOAD_KEYS_FILE, the tokens codecAuthorizer accepts, the
// origins of NOVAFLOW_CODEC_SERVER_ORIGINS. Errors name the setting.
func codecHandler(ctx context.Context, cfg worker.Config, logger *slog.Logger) (http.Handler, error) {
	pc, err := cfg.PayloadCodec(logger)
	if err != nil {
		return nil, err
	}
	if pc == nil {
		return nil, &worker.ConfigError{Setting: "NOVAFLOW_PAYLOAD_KEYS_FILE", Err: errors.New("not set: the codec server needs the key ring of the services")}
	}
	authz, err := codecAuthorizer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var origins []string
	for _, o := range strings.Split(cfg.CodecServerOrigins, ",") {
		if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o != "" {
			if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return nil, &worker.ConfigError{Setting: "NOVAFLOW_CODEC_SERVER_ORIGINS", Err: fmt.Errorf("%q: want scheme://host[:port] or *", o)}
			}
			origins = append(origins, o)
		}
	}
	return codec.NewHandler(pc, codec.HandlerOptions{Authorizer: authz, Origins: origins})
}

// Policy rules of the codec server, and the rule they default to when the
// policy file does not define them: administrators only.
const (
	codecDecodeRule  = "codec:decode"
	codecEncodeRule  = "codec:encode"
	codecDefaultRule = "admin"
)

// codecAuthorizer accepts the static token of NOVAFLOW_CODEC_SERVER_TOKEN_FILE
// when it is set, and with NOVAFLOW_AUTH on the tokens of its issuer that
// the policy's rule codec:decode or codec:encode allows (default
// rule:admin). With neither there is no way in: an error names the settings.
func codecAuthorizer(ctx context.Context, cfg worker.Config) (codec.Authorizer, error) {
	var static codec.Authorizer
	if cfg.CodecServerTokenFile != "" {
		token, err := readToken(cfg.CodecServerTokenFile)
		if err != nil {
			return nil, &worker.ConfigError{Setting: "NOVAFLOW_CODEC_SERVER_TOKEN_FILE", Err: err}
		}
		static = codec.StaticToken(token)
	}
	verifier, pol, err := cfg.Authz(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case verifier == nil && static == nil:
		return nil, &worker.ConfigError{Setting: "NOVAFLOW_CODEC_SERVER_TOKEN_FILE", Err: errors.New("not set, and NOVAFLOW_AUTH is off: the codec server requires a bearer token (a file of one line) or the tokens of NOVAFLOW_AUTH's issuer")}
	case verifier == nil:
		return static, nil
	}
	return codec.AuthorizerFunc(func(ctx context.Context, r codec.AuthRequest) error {
		if static != nil && static.Authorize(ctx, r) == nil {
			return nil
		}
		creds, err := verifier.Verify(r.Token)
		if err != nil {
			return fmt.Errorf("%w: %v", codec.ErrUnauthorized, err)
		}
		rule := codecDecodeRule
		if r.Operation == codec.OpEncode {
			rule = codecEncodeRule
		}
		if _, ok := pol.Rule(rule); !ok {
			rule = codecDefaultRule
		}
		return pol.Check(rule, creds, map[string]string{"namespace": r.Namespace}).Err(creds)
	}), nil
}

// readToken reads a one-line token file; errors never quote it.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	token := strings.TrimRight(string(b), "\r\n")
	switch {
	case token == "":
		return "", fmt.Errorf("%s is empty", file)
	case strings.ContainsAny(token, "\r\n \t"):
		return "", fmt.Errorf("%s holds more than one word", file)
	case len(token) < 16:
		return "", fmt.Errorf("%s: the token is shorter than 16 bytes", file)
	}
	return token, nil
}

// serveCodec serves the codec server of cfg until ctx ends, logging to
// logger; listening is called with the address once it listens.
func serveCodec(ctx context.Context, cfg worker.Config, logger *slog.Logger, listening func(addr string)) error {
	h, err := codecHandler(ctx, cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.CodecServerAddress)
	if err != nil {
		return &worker.ConfigError{Setting: "NOVAFLOW_CODEC_SERVER_ADDRESS", Err: err}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	listening(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutCtx)
	}
}
