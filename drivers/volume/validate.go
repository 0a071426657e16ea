package volume

import (
	"path/filepath"
	"strings"
)

// MaxIDLen is the longest ID accepted by ValidateID.
const MaxIDLen = 128

// MaxSizeGB is the largest size accepted by ValidateSize: 64 TiB.
const MaxSizeGB = 64 << 10

// ValidateID checks that id can name a volume on every driver: 1 to MaxIDLen
// characters among ASCII letters, digits, '-', '_' and '.', not starting
// with '.', so that it is safe as a file name. A canonical UUID passes; so
// do test names such as "vol-1".
func ValidateID(id string) error {
	switch {
	case id == "":
		return Invalid("id", "is empty")
	case len(id) > MaxIDLen:
		return Invalid("id", "is longer than %d characters", MaxIDLen)
	case id[0] == '.':
		return Invalid("id", "%q starts with '.'", id)
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return Invalid("id", "%q has character %q (allowed: letters, digits, '-', '_', '.')", id, c)
		}
	}
	return nil
}

// ValidateSize checks a size in GiB: 1 to MaxSizeGB.
func ValidateSize(sizeGB int) error {
	if sizeGB < 1 || sizeGB > MaxSizeGB {
		return Invalid("size_gb", "must be between 1 and %d, got %d", MaxSizeGB, sizeGB)
	}
	return nil
}

// ValidateMountpoint checks where Attach is asked to make a volume visible:
// empty (nowhere), or an absolute, clean path (no "..", no trailing slash)
// without NUL bytes that is not the root.
func ValidateMountpoint(mountpoint string) error {
	switch {
	case mountpoint == "":
		return nil
	case strings.IndexByte(mountpoint, 0) >= 0:
		return Invalid("mountpoint", "contains a NUL byte")
	case !filepath.IsAbs(mountpoint):
		return Invalid("mountpoint", "%q is not an absolute path", mountpoint)
	case filepath.Clean(mountpoint) != mountpoint:
		return Invalid("mountpoint", "%q is not a clean path (want %q)", mountpoint, filepath.Clean(mountpoint))
	case filepath.Dir(mountpoint) == mountpoint:
		return Invalid("mountpoint", "%q is the root", mountpoint)
	}
	return nil
}
