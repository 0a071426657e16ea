package testenv

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// UniqueName returns a short name, unique in practice, for a host, a task
// queue or a workflow ID of the test: lowercase letters, digits and hyphens,
// made of the prefix, the end of the test's name and a random suffix, e.g.
// "host-restartkeepsdata-3f9a0c1d".
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	return uniqueName(t, prefix, '-', 40)
}

// uniqueName builds prefix<sep>test<sep>random within max bytes.
func uniqueName(t testing.TB, prefix string, sep rune, max int) string {
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimPrefix(name, "Test")
	parts := []string{}
	if p := sanitize(prefix, sep); p != "" {
		parts = append(parts, p)
	}
	room := max - len(suffix) - 1
	for _, p := range parts {
		room -= len(p) + 1
	}
	if n := sanitize(name, sep); n != "" && room > 0 {
		if len(n) > room {
			n = strings.TrimRight(n[:room], string(sep))
		}
		parts = append(parts, n)
	}
	return strings.Join(append(parts, suffix), string(sep))
}

// sanitize lowercases s and replaces runs of other characters than ASCII
// letters and digits with sep.
func sanitize(s string, sep rune) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if pending && b.Len() > 0 {
				b.WriteRune(sep)
			}
			pending = false
			b.WriteRune(r)
		} else {
			pending = true
		}
	}
	return b.String()
}
