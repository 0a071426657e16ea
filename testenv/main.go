package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Main runs the tests of m, then stops the servers the tests started and
// exits with the tests' code. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
	}
	os.Exit(code)
}
