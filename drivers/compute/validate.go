package compute

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxUUIDLen is the longest UUID accepted by ValidateUUID.
const MaxUUIDLen = 128

// ValidateUUID checks that uuid can name an instance on every driver: 1 to
// MaxUUIDLen characters among ASCII letters, digits, '-', '_' and '.', and
// not "." or "..", so that it is safe as a file name. A canonical UUID
// passes; so do test names such as "vm-1".
func ValidateUUID(uuid string) error {
	switch {
	case uuid == "":
		return invalid("uuid", "is empty")
	case len(uuid) > MaxUUIDLen:
		return invalid("uuid", "is longer than %d characters", MaxUUIDLen)
	case uuid == "." || uuid == "..":
		return invalid("uuid", "%q is not allowed", uuid)
	}
	for _, c := range uuid {
		if !isUUIDChar(c) {
			return invalid("uuid", "%q has character %q (allowed: letters, digits, '-', '_', '.')", uuid, c)
		}
	}
	return nil
}

func isUUIDChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// MaxFlavorValue bounds each size of a flavor: the largest 32-bit integer,
// which is what the database keeps.
const MaxFlavorValue = math.MaxInt32

// MaxNameLen bounds an instance's and a flavor's name, in bytes.
const MaxNameLen = 255

// Validate checks the flavor: at least one vCPU and 1 MB of memory, no
// negative disk, no size above MaxFlavorValue, and a name of at most
// MaxNameLen bytes of text without NUL.
func (f Flavor) Validate() error {
	switch {
	case f.VCPUs <= 0:
		return invalid("flavor.vcpus", "must be positive, got %d", f.VCPUs)
	case f.MemoryMB <= 0:
		return invalid("flavor.memory_mb", "must be positive, got %d", f.MemoryMB)
	case f.DiskGB < 0:
		return invalid("flavor.disk_gb", "must not be negative, got %d", f.DiskGB)
	case f.VCPUs > MaxFlavorValue:
		return invalid("flavor.vcpus", "must be at most %d, got %d", MaxFlavorValue, f.VCPUs)
	case f.MemoryMB > MaxFlavorValue:
		return invalid("flavor.memory_mb", "must be at most %d, got %d", MaxFlavorValue, f.MemoryMB)
	case f.DiskGB > MaxFlavorValue:
		return invalid("flavor.disk_gb", "must be at most %d, got %d", MaxFlavorValue, f.DiskGB)
	}
	return validName("flavor.name", f.Name)
}

// validName checks a display name: text without NUL bytes, at most
// MaxNameLen bytes.
func validName(field, name string) error {
	switch {
	case len(name) > MaxNameLen:
		return invalid(field, "is %d bytes long: at most %d", len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return invalid(field, "contains a NUL byte")
	case !utf8.ValidString(name):
		return invalid(field, "is not valid UTF-8")
	}
	return nil
}

// Validate checks everything a driver needs before it creates the instance:
// the UUID (ValidateUUID), the name, the flavor, a non-empty command without
// NUL bytes, and environment entries of the form KEY=value. The error is an
// *InvalidError naming the field, which matches ErrInvalid.
func (i Instance) Validate() error {
	if err := ValidateUUID(i.UUID); err != nil {
		return err
	}
	if err := validName("name", i.Name); err != nil {
		return err
	}
	if err := i.Flavor.Validate(); err != nil {
		return err
	}
	if len(i.Command) == 0 {
		return invalid("command", "is empty")
	}
	if i.Command[0] == "" {
		return invalid("command[0]", "is empty")
	}
	for n, arg := range i.Command {
		if strings.IndexByte(arg, 0) >= 0 {
			return invalid(fmt.Sprintf("command[%d]", n), "contains a NUL byte")
		}
	}
	for n, kv := range i.Env {
		field := fmt.Sprintf("env[%d]", n)
		key, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return invalid(field, "%q is not of the form KEY=value", kv)
		case key == "":
			return invalid(field, "%q has an empty key", kv)
		case strings.IndexByte(kv, 0) >= 0:
			return invalid(field, "contains a NUL byte")
		}
	}
	return nil
}
