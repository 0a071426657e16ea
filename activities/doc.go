// Package activities turns manager methods into Temporal activities: their
// names (<topic>.<method>), strict request decoding, the version check of a
// call (CallInfo), heartbeats while a method runs, and error classes (a
// typed managers.Error becomes an application error of the same type, which
// is non-retryable unless the type says retrying may help). It also holds the
// activities through which workflows read the services table (UpHostsName),
// the periodic-task and status-report activities.
package activities
