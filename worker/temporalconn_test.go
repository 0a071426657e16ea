package worker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// writeCert writes a self-signed certificate for cn and its key as PEM files
// cert.pem and key.pem in dir.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTemporalConnection(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "client-1")

	if conn, creds, err := (Config{}).temporalConnection(); err != nil || conn.TLS != nil || creds != nil {
		t.Errorf("no TLS settings: %+v, %v, %v; want a plain connection", conn, creds, err)
	}
	if conn, _, err := (Config{TemporalGRPCCompression: "gzip"}).temporalConnection(); err != nil || conn.GrpcCompression != nil {
		t.Errorf("gzip: %+v, %v; want the SDK's default (gzip)", conn, err)
	}
	if conn, _, err := (Config{TemporalGRPCCompression: "none", TemporalTLS: true}).temporalConnection(); err != nil || conn.TLS == nil {
		t.Errorf("none with TLS: %+v, %v", conn, err)
	} else if _, ok := conn.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Errorf("none with TLS: compression %T, want none", conn.GrpcCompression)
	}
	if conn, _, err := (Config{TemporalTLS: true}).temporalConnection(); err != nil || conn.TLS == nil || conn.TLS.RootCAs != nil {
		t.Errorf("NOVAFLOW_TEMPORAL_TLS=true: %+v, %v; want TLS with the system's CAs", conn, err)
	}
	if conn, creds, err := (Config{TemporalAPIKey: "k"}).temporalConnection(); err != nil || conn.TLS == nil || creds == nil {
		t.Errorf("an API key: %+v, %v, %v; want TLS and credentials", conn, creds, err)
	}

	cfg := Config{TemporalTLSCA: certFile, TemporalTLSCert: certFile, TemporalTLSKey: keyFile, TemporalTLSServerName: "temporal.internal"}
	conn, _, err := cfg.temporalConnection()
	if err != nil {
		t.Fatal(err)
	}
	if conn.TLS.RootCAs == nil || conn.TLS.ServerName != "temporal.internal" || conn.TLS.GetClientCertificate == nil {
		t.Fatalf("mutual TLS: %+v", conn.TLS)
	}
	cert, err := conn.TLS.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(cert.Certificate[0]); leaf.Subject.CommonName != "client-1" {
		t.Errorf("client certificate %q, want client-1", leaf.Subject.CommonName)
	}
	// A renewed certificate is used at the next handshake.
	writeCert(t, dir, "client-2")
	cert, err = conn.TLS.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(cert.Certificate[0]); leaf.Subject.CommonName != "client-2" {
		t.Errorf("after renewal: client certificate %q, want client-2", leaf.Subject.CommonName)
	}

	for _, c := range []struct {
		cfg     Config
		setting string
	}{
		{Config{TemporalTLSCA: filepath.Join(dir, "missing.pem")}, "NOVAFLOW_TEMPORAL_TLS_CA"},
		{Config{TemporalTLSCA: keyFile}, "NOVAFLOW_TEMPORAL_TLS_CA"},
		{Config{TemporalTLSCert: certFile}, "NOVAFLOW_TEMPORAL_TLS_CERT"},
		{Config{TemporalTLSCert: keyFile, TemporalTLSKey: certFile}, "NOVAFLOW_TEMPORAL_TLS_CERT"},
	} {
		_, _, err := c.cfg.temporalConnection()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting != c.setting {
			t.Errorf("%+v: error %v, want one naming %s", c.cfg, err, c.setting)
		}
	}
}
