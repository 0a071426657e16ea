// Package activities turns manager methods into Temporal activities: their
// names (<topic>.<method>), strict request decoding, and error classes (a
// typed managers.Error becomes an application error of the same type, which
// is non-retryable unless the type says retrying may help).
package activities
