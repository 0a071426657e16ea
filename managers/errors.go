package managers

import (
	"errors"
	"fmt"
)

// Error types that cross the RPC boundary with their type intact: a caller gets
// back a *Error with the same Type (and Field) that the remote method returned.
const (
	// InvalidArgumentType: the request is malformed; retrying cannot help.
	InvalidArgumentType = "InvalidArgument"
	// NotFoundType: the object the request names does not exist.
	NotFoundType = "NotFound"
	// ConflictType: the object is in a state that forbids the operation.
	ConflictType = "Conflict"
	// UnavailableType: the work could not be done now; retrying may help.
	UnavailableType = "Unavailable"
	// UnsupportedVersionType: the call's version is one the other side does
	// not speak (a major it does not know, or a minor above its own), or one
	// above the caller's upgrade level.
	UnsupportedVersionType = "UnsupportedVersion"
	// TimeoutType: no result came within the call's deadline (a dead target
	// host, or a method slower than the timeout); whether the method ran is
	// unknown.
	TimeoutType = "Timeout"
)

// Error is a typed failure of a manager method. Every type but Unavailable is
// permanent: the runtime turns it into a non-retryable Temporal application
// error of the same type, so a bad request never becomes a retry loop.
type Error struct {
	// Type is one of the *Type constants, or a type of the manager's own.
	Type string
	// Field names the offending request field, when there is one.
	Field string
	// Message says what is wrong, for a person.
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: field %s: %s", e.Type, e.Field, e.Message)
	}
	return e.Type + ": " + e.Message
}

// Is matches any *Error of the same Type, so errors.Is(err, &Error{Type: NotFoundType}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type && (t.Field == "" || t.Field == e.Field)
}

// Retryable reports whether retrying the same request may succeed.
func (e *Error) Retryable() bool { return e.Type == UnavailableType }

// InvalidArgument returns an InvalidArgument error naming field.
func InvalidArgument(field, format string, args ...any) *Error {
	return &Error{Type: InvalidArgumentType, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a NotFound error for the object of kind with id.
func NotFound(kind, id string) *Error {
	return &Error{Type: NotFoundType, Message: fmt.Sprintf("%s %s not found", kind, id)}
}

// Conflict returns a Conflict error.
func Conflict(format string, args ...any) *Error {
	return &Error{Type: ConflictType, Message: fmt.Sprintf(format, args...)}
}

// Unavailable returns a retryable Unavailable error.
func Unavailable(format string, args ...any) *Error {
	return &Error{Type: UnavailableType, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
