package compute

import (
	"fmt"
	"strings"
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

// Validate checks the flavor: at least one vCPU and 1 MB of memory, and no
// negative disk.
func (f Flavor) Validate() error {
	switch {
	case f.VCPUs <= 0:
		return invalid("flavor.vcpus", "must be positive, got %d", f.VCPUs)
	case f.MemoryMB <= 0:
		return invalid("flavor.memory_mb", "must be positive, got %d", f.MemoryMB)
	case f.DiskGB < 0:
		return invalid("flavor.disk_gb", "must not be negative, got %d", f.DiskGB)
	}
	return nil
}

// Validate checks everything a driver needs before it creates the instance:
// the UUID (ValidateUUID), the flavor, a non-empty command without NUL
// bytes, and environment entries of the form KEY=value. The error is an
// *InvalidError naming the field, which matches ErrInvalid.
func (i Instance) Validate() error {
	if err := ValidateUUID(i.UUID); err != nil {
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
