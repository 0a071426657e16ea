package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// PKI is a certificate authority made for a test, with a server
// certificate and a client certificate it signs, as PEM files.
type PKI struct {
	CAFile                string // the CA's certificate
	ServerCert, ServerKey string // for ServerName, 127.0.0.1 and ::1
	ClientCert, ClientKey string // for the common name ClientName
	ServerName            string
	ClientName            string
	CA                    *x509.CertPool
}

// NewPKI makes a CA and its two certificates in dir: a server's for
// serverName (and the loopback addresses) and a client's, for mutual TLS.
func NewPKI(t testing.TB, dir, serverName string) *PKI {
	t.Helper()
	p := &PKI{ServerName: serverName, ClientName: "novaflow-client"}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "novaflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)
	p.CA = x509.NewCertPool()
	p.CA.AddCert(caCert)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP, name string) (string, string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: dns, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", kder)
		return certFile, keyFile
	}
	p.ServerCert, p.ServerKey = issue(2, serverName, x509.ExtKeyUsageServerAuth, []string{serverName}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, "server")
	p.ClientCert, p.ClientKey = issue(3, p.ClientName, x509.ExtKeyUsageClientAuth, nil, nil, "client")
	return p
}

// ServerTLS is the TLS configuration of a server with the PKI's server
// certificate that requires a client certificate the CA signed.
func (p *PKI) ServerTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: p.CA, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"}} // gRPC requires ALPN h2
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TLSProxy is a TLS (mutual TLS) front made for a test for a plaintext
// gRPC server that has none, such as the Temporal dev server.
type TLSProxy struct {
	// Addr is the proxy's address.
	Addr     string
	accepted atomic.Int64
	mu       sync.Mutex
	headers  map[string][]string
}

// Accepted returns the number of connections whose client certificate the
// proxy verified so far.
func (p *TLSProxy) Accepted() int64 { return p.accepted.Load() }

// Header returns the values of the gRPC request header (HTTP/2 header
// field, lower case) name that clients sent through the proxy so far.
func (p *TLSProxy) Header(name string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.headers[name]...)
}

// TLSProxy listens on a loopback port with p.ServerTLS, requiring a client
// certificate the CA signed, and forwards each connection's decrypted bytes
// to the plaintext address backend, reading the request headers on the
// way (HTTP/2 frames, as gRPC sends them). It stops at the end of the test.
func (p *PKI) TLSProxy(t testing.TB, backend string) *TLSProxy {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.ServerTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	px := &TLSProxy{Addr: ln.Addr().String(), headers: map[string][]string{}}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				px.accepted.Add(1)
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() {
					<-done
					c.Close()
					b.Close()
				}()
				pr, pw := io.Pipe()
				go px.readHeaders(pr)
				copied := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(io.MultiWriter(b, pw), c); pw.Close(); copied <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); copied <- struct{}{} }()
				<-copied
			}()
		}
	}()
	return px
}

// readHeaders reads the client's side of an HTTP/2 connection (its preface,
// then frames) and records the header fields of its requests.
func (p *TLSProxy) readHeaders(r *io.PipeReader) {
	defer func() { _, _ = io.Copy(io.Discard, r) }() // never block the copy
	if _, err := io.ReadFull(r, make([]byte, len(http2.ClientPreface))); err != nil {
		return
	}
	fr := http2.NewFramer(nil, r)
	fr.SetMaxReadFrameSize(1 << 24)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			p.mu.Lock()
			for _, hf := range mh.Fields {
				p.headers[hf.Name] = append(p.headers[hf.Name], hf.Value)
			}
			p.mu.Unlock()
		}
	}
}
