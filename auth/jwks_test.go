package auth

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJWKSRefusesHTTP: a key set over plain http:// is refused (whoever is
// on the path could swap the keys and forge tokens), loopback included.
func TestJWKSRefusesHTTP(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/jwks.json", "HTTP://id.example/jwks", "http://localhost/keys"} {
		_, err := NewVerifier(context.Background(), VerifierConfig{JWKS: u, Issuer: "iss", Audience: "novaflow"})
		if err == nil || !strings.Contains(err.Error(), "http://") || !strings.Contains(err.Error(), "https://") {
			t.Errorf("NewVerifier(%s) = %v, want it refused, saying to use https://", u, err)
		}
	}
}

// TestJWKSURLFailsAtStart: a URL that cannot be fetched, or serves no key
// set, is an error of NewVerifier (one line), not a verifier that refuses
// every token; a good one verifies.
func TestJWKSURLFailsAtStart(t *testing.T) {
	key, jwksFile, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	set, err := os.ReadFile(jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks.json":
			_, _ = w.Write(set)
		case "/empty.json":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case "/html":
			_, _ = w.Write([]byte(`<html>login</html>`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct{ url, want string }{
		{srv.URL + "/missing.json", "404"},
		{srv.URL + "/empty.json", "no key"},
		{srv.URL + "/html", "decode"},
		{closedURL + "/jwks.json", "connect"},
	} {
		_, err := NewVerifier(context.Background(), VerifierConfig{JWKS: tc.url, Issuer: "iss", Audience: "novaflow", HTTPClient: srv.Client()})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("NewVerifier(%s) = %q, want one line saying %q", tc.url, err, tc.want)
		}
	}
	// An https server whose certificate the client does not trust.
	if _, err := NewVerifier(context.Background(), VerifierConfig{JWKS: srv.URL + "/jwks.json", Issuer: "iss", Audience: "novaflow"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("NewVerifier of an untrusted server = %v, want a certificate error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := NewVerifier(ctx, VerifierConfig{JWKS: srv.URL + "/jwks.json", Issuer: "iss", Audience: "novaflow", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Issue(key, Claims{Issuer: "iss", Audience: "novaflow", Subject: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("a token of the URL's key: %v", err)
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestJWKSFileReload: a JWKS file is read again when it changes: a token of
// a key added to it verifies at once (its kid is unknown), a key removed
// from it stops verifying within JWKSReloadInterval (a token not verified
// before), and a broken edit is logged while the last good set stays in
// use.
func TestJWKSFileReload(t *testing.T) {
	keyA, jwksFile, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keyB, jwksB, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwksFile, Issuer: "iss", Audience: "novaflow",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(key, sub string) string {
		tok, err := Issue(key, Claims{Issuer: "iss", Audience: "novaflow", Subject: sub, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if _, err := v.Verify(issue(keyA, "a1")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(issue(keyB, "b0")); err == nil {
		t.Fatal("a token of a key not in the file verified")
	}

	// Rotation: the file now holds B only. B's token verifies at once.
	setB, err := os.ReadFile(jwksB)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jwksFile, setB, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(issue(keyB, "b1")); err != nil {
		t.Fatalf("a token of the key added to the file: %v", err)
	}
	// A's key is gone: a token of it is refused (its kid is unknown).
	if _, err := v.Verify(issue(keyA, "a2")); err == nil {
		t.Error("a token of the key removed from the file verified")
	}

	// A broken edit: logged, B's set stays in use, even past the interval.
	if err := os.WriteFile(jwksFile, []byte(`{"keys": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(JWKSReloadInterval + 100*time.Millisecond)
	if _, err := v.Verify(issue(keyB, "b2")); err != nil {
		t.Errorf("after a broken edit, a token of the last good set: %v", err)
	}
	if _, err := v.Verify(issue(keyB, "b3")); err != nil {
		t.Errorf("after a broken edit, a token of the last good set: %v", err)
	}
	if n := strings.Count(logs.String(), "does not read as a key set"); n != 1 {
		t.Errorf("the broken edit was logged %d times, want once:\n%s", n, logs.String())
	}
}
