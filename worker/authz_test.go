package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/auth"
)

// TestStopEndsJWKSRefresh: a service whose NOVAFLOW_AUTH_JWKS is a URL
// fetches the key set and refreshes it in a goroutine of its own (keyfunc's
// storage); Stop ends that goroutine, for a service that never started too,
// instead of leaving it for the life of the process.
func TestStopEndsJWKSRefresh(t *testing.T) {
	_, jwksFile, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := os.ReadFile(jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer srv.Close()
	refreshing := func() int {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		count := 0
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "jwkset.NewStorageFromHTTP") {
				count++
			}
		}
		return count
	}
	before := refreshing()

	cfg := DefaultConfig()
	cfg.Host, cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer = "h1", true, srv.URL+"/jwks.json", "https://issuer.test"
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := refreshing(); got != before+1 {
		t.Fatalf("%d goroutines refresh a JWKS after Create, want %d", got, before+1)
	}
	svc.Stop(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for refreshing() != before {
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS refresh goroutine still runs 5 s after Stop (%d, want %d)", refreshing(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
