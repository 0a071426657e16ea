package worker

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"go.temporal.io/sdk/client"
)

// temporalConnection returns the TLS and credentials options of the client
// to Temporal that the settings ask for: TLS when NOVAFLOW_TEMPORAL_TLS is
// set or implied (a CA, a client certificate or an API key is given), the
// server checked against NOVAFLOW_TEMPORAL_TLS_CA (else the system's CAs),
// a client certificate for mutual TLS from NOVAFLOW_TEMPORAL_TLS_CERT and
// _KEY, read again at each handshake so that a renewed certificate (a
// Kubernetes Secret, cert-manager) is used without a restart, and an API key
// (NOVAFLOW_TEMPORAL_API_KEY, as Temporal Cloud takes it, or the file of
// NOVAFLOW_TEMPORAL_API_KEY_FILE, read again at each call for the same
// reason). NOVAFLOW_TEMPORAL_GRPC_COMPRESSION=none turns off the SDK's gzip.
//
// The same settings may come from Temporal's own configuration (a profile,
// TEMPORAL_*: temporalprofile.go), which may also give the certificates as
// PEM data, turn host verification off, turn TLS off though an API key is
// set (a profile's tls.disabled), and add gRPC metadata (headers).
func (c Config) temporalConnection() (client.ConnectionOptions, client.Credentials, error) {
	x := c.temporal
	if x == nil {
		x = &temporalExtras{}
	}
	var creds client.Credentials
	switch {
	case c.TemporalAPIKeyFile != "":
		creds = client.NewAPIKeyDynamicCredentials(apiKeyFile(c.TemporalAPIKeyFile, c.TemporalAPIKey))
	case c.TemporalAPIKey != "":
		creds = client.NewAPIKeyStaticCredentials(c.TemporalAPIKey)
	}
	var conn client.ConnectionOptions
	if c.TemporalGRPCCompression == "none" {
		conn.GrpcCompression = &client.GrpcCompressionNone{}
	}
	tlsWanted := c.TemporalTLS || c.TemporalTLSCA != "" || c.TemporalTLSCert != "" || c.TemporalTLSKey != "" ||
		len(x.caData) > 0 || len(x.certData) > 0 || len(x.keyData) > 0 || (c.TemporalAPIKey != "" && !x.tlsDisabled)
	if !tlsWanted || x.tlsDisabled {
		return conn, creds, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSServerName, InsecureSkipVerify: x.skipVerify}
	caSetting := c.setting("NOVAFLOW_TEMPORAL_TLS_CA")
	ca := x.caData
	if c.TemporalTLSCA != "" {
		pem, err := os.ReadFile(c.TemporalTLSCA)
		if err != nil {
			return client.ConnectionOptions{}, nil, &ConfigError{Setting: caSetting, Err: err}
		}
		ca = pem
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return client.ConnectionOptions{}, nil, &ConfigError{Setting: caSetting, Err: fmt.Errorf("%s: no PEM certificate", cmp.Or(c.TemporalTLSCA, "data"))}
		}
		cfg.RootCAs = pool
	}
	certSetting, keySetting := c.setting("NOVAFLOW_TEMPORAL_TLS_CERT"), c.setting("NOVAFLOW_TEMPORAL_TLS_KEY")
	hasCert := c.TemporalTLSCert != "" || len(x.certData) > 0
	hasKey := c.TemporalTLSKey != "" || len(x.keyData) > 0
	switch {
	case hasCert != hasKey:
		return client.ConnectionOptions{}, nil, &ConfigError{Setting: certSetting, Err: fmt.Errorf("set together with %s", keySetting)}
	case hasCert:
		// A file is read again at each handshake; data is what it is.
		load := func() (*tls.Certificate, error) {
			certPEM, keyPEM := x.certData, x.keyData
			if c.TemporalTLSCert != "" {
				b, err := os.ReadFile(c.TemporalTLSCert)
				if err != nil {
					return nil, &ConfigError{Setting: certSetting, Err: err}
				}
				certPEM = b
			}
			if c.TemporalTLSKey != "" {
				b, err := os.ReadFile(c.TemporalTLSKey)
				if err != nil {
					return nil, &ConfigError{Setting: keySetting, Err: err}
				}
				keyPEM = b
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, &ConfigError{Setting: certSetting, Err: err}
			}
			return &cert, nil
		}
		if _, err := load(); err != nil {
			return client.ConnectionOptions{}, nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	conn.TLS = cfg
	return conn, creds, nil
}

// temporalHeaders returns the gRPC metadata Temporal's configuration gives
// (TEMPORAL_GRPC_META_*, a profile's grpc_meta); nil for none.
func (c Config) temporalHeaders() interface {
	GetHeaders(context.Context) (map[string]string, error)
} {
	if c.temporal == nil || len(c.temporal.grpcMeta) == 0 {
		return nil
	}
	return fixedHeaders(c.temporal.grpcMeta)
}

type fixedHeaders map[string]string

func (f fixedHeaders) GetHeaders(context.Context) (map[string]string, error) { return f, nil }

// apiKeyFile returns the API key callback of a key kept in file: the file's
// content at each call, or the last key read (first: initial) while the file
// cannot be read or is empty, as during a secret's rotation.
func apiKeyFile(file, initial string) func(context.Context) (string, error) {
	var last atomic.Value
	last.Store(initial)
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(file)
		if key := strings.TrimRight(string(b), "\r\n"); err == nil && key != "" {
			last.Store(key)
			return key, nil
		}
		return last.Load().(string), nil
	}
}
