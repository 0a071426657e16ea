package testenv

import (
	"testing"

	"github.com/novaflow/novaflow/internal/devstack"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, or
// fails the test.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}
