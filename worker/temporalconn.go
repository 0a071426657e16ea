package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
func (c Config) temporalConnection() (client.ConnectionOptions, client.Credentials, error) {
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
	if !c.TemporalTLS && c.TemporalTLSCA == "" && c.TemporalTLSCert == "" && c.TemporalTLSKey == "" && c.TemporalAPIKey == "" {
		return conn, nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSServerName}
	if c.TemporalTLSCA != "" {
		pem, err := os.ReadFile(c.TemporalTLSCA)
		if err != nil {
			return client.ConnectionOptions{}, nil, &ConfigError{Setting: "NOVAFLOW_TEMPORAL_TLS_CA", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return client.ConnectionOptions{}, nil, &ConfigError{Setting: "NOVAFLOW_TEMPORAL_TLS_CA", Err: fmt.Errorf("%s: no PEM certificate", c.TemporalTLSCA)}
		}
		cfg.RootCAs = pool
	}
	switch {
	case (c.TemporalTLSCert == "") != (c.TemporalTLSKey == ""):
		return client.ConnectionOptions{}, nil, &ConfigError{Setting: "NOVAFLOW_TEMPORAL_TLS_CERT", Err: errors.New("set together with NOVAFLOW_TEMPORAL_TLS_KEY")}
	case c.TemporalTLSCert != "":
		load := func() (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(c.TemporalTLSCert, c.TemporalTLSKey)
			if err != nil {
				return nil, &ConfigError{Setting: "NOVAFLOW_TEMPORAL_TLS_CERT", Err: err}
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
