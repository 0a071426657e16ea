//go:build novaflow_next

package conductor_test

// The next release records its histories beside the current one's
// (TestBuildReschedules -record), for TestBuildReplay.
func init() { releaseSuffix = "_next" }
