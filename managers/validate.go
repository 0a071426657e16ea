package managers

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Bounds of request values that end up in the database or in Temporal's
// search attributes: what a request's Validate checks with CheckText.
const (
	// MaxRequestIDLen bounds a request id (instance_actions.request_id is
	// part of a unique index, whose rows PostgreSQL caps at about 2.7 kB).
	MaxRequestIDLen = 200
	// MaxNameLen bounds a display name, as nova's 255.
	MaxNameLen = 255
	// MaxRequestLen bounds the JSON of one request (Method.Decode, and the
	// RPC and build workflows before they parse it): requests are small,
	// and a huge one would cost its workflow's task more than the SDK's
	// deadlock detector allows (1 s).
	MaxRequestLen = 256 << 10
)

// CheckUUID checks that value is a UUID in its canonical form (8-4-4-4-12
// hexadecimal digits, either case), the form PostgreSQL's uuid type and
// Temporal's search attributes take: uuid.Parse alone also accepts
// "urn:uuid:..." and braces. The error is an InvalidArgument naming field.
func CheckUUID(field, value string) error {
	u, err := uuid.Parse(value)
	if err != nil || u.String() != strings.ToLower(value) {
		return InvalidArgument(field, "%s is not a UUID (want e.g. 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11)", Quote(value))
	}
	return nil
}

// CheckUUIDs checks that each of values is a UUID (CheckUUID) and that none
// is given twice; errors name the element, as field[i].
func CheckUUIDs(field string, values []string) error {
	seen := make(map[string]bool, len(values))
	for i, u := range values {
		elem := fmt.Sprintf("%s[%d]", field, i)
		if err := CheckUUID(elem, u); err != nil {
			return err
		}
		if seen[strings.ToLower(u)] {
			return InvalidArgument(elem, "%s is given twice", u)
		}
		seen[strings.ToLower(u)] = true
	}
	return nil
}

// CheckText checks that value can be stored as text: valid UTF-8 without
// NUL bytes (PostgreSQL refuses them), at most maxLen bytes. The error is an
// InvalidArgument naming field.
func CheckText(field, value string, maxLen int) error {
	switch {
	case len(value) > maxLen:
		return InvalidArgument(field, "is %d bytes long: at most %d", len(value), maxLen)
	case strings.IndexByte(value, 0) >= 0:
		return InvalidArgument(field, "contains a NUL byte")
	case !utf8.ValidString(value):
		return InvalidArgument(field, "is not valid UTF-8")
	}
	return nil
}

// quoteMax is how much of a value Quote shows.
const quoteMax = 64

// Quote quotes a value for an error message (strconv.Quote), cut to its
// first 64 bytes, so that a huge bad value does not make a huge error.
func Quote(value string) string {
	if len(value) <= quoteMax {
		return strconv.Quote(value)
	}
	return strconv.Quote(value[:quoteMax]) + "… (" + strconv.Itoa(len(value)) + " bytes)"
}
