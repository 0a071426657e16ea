package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// The names, inputs and results of the framework's housekeeping: the
// workflows that schedules start (a topic's status report and periodic
// tasks) and the activities those workflows run on the services' queues
// (package activities implements them; package worker registers both).

// HostQueue is the task queue of a topic's service on host: <topic>.<host>.
// Work sent there runs on that host only; the topic's own queue <topic> is
// shared by every host.
func HostQueue(topic, host string) string { return topic + "." + host }

// HostError is one host's failure in a run over many hosts (a periodic
// task's run, an RPC fanout), as JSON: a typed error's type, field and
// message, or type "Error" for a failure without a type of its own.
type HostError struct {
	Type    string `json:"type"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// UntypedError is the type of a host's failure that carries no type of its
// own.
const UntypedError = "Error"

// timeoutType is the type of a host's part that did not end within its
// timeout: managers.TimeoutType, which workflow code does not import.
const timeoutType = "Timeout"

// retryPolicy is the policy of the local activity that lists a topic's
// hosts: retried with backoff until its timeout.
func retryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	}
}

// ReportStateName is the name of a topic's status report: the workflow type
// that its report schedule starts and the local activity that workflow runs,
// <topic>.report_state (nova's ServiceGroup report_state). A manager may not
// declare an RPC method named report_state.
func ReportStateName(topic string) string { return topic + "." + ReportStateMethod }

// ReportStateMethod is the method part of ReportStateName, reserved: it is the
// value of search attribute NovaflowMethod on report runs.
const ReportStateMethod = "report_state"

// ReportAliveName is the activity that a status report runs on each host's
// queue <topic>.<host> when the server keeps no worker heartbeats: a service
// that runs it is alive.
func ReportAliveName(topic string) string { return topic + ".report_alive" }

// ReportRequest is the input of a topic's status report.
type ReportRequest struct {
	// Topic is the topic whose services to report.
	Topic string `json:"topic"`
	// Every and For (Go durations, such as "10s" and "10m"), given to the
	// workflow by the report schedule: the run reports every Every until
	// For has passed. Without them the run reports once.
	Every string `json:"every,omitempty"`
	For   string `json:"for,omitempty"`
	// Asked says the workflow asked each host with ReportAliveName (the
	// server keeps no worker heartbeats); Alive are the services that
	// answered, which the report writes.
	Asked bool    `json:"asked,omitempty"`
	Alive []Alive `json:"alive,omitempty"`
	// Check says the run checks itself at its start (CheckRunName) with no
	// workflow.GetVersion gate, which would cost the run a Temporal action
	// (its search attribute's upsert): the services' schedules set it. A
	// run without it (recorded by an earlier build, started otherwise) goes
	// by the gate.
	Check bool `json:"check,omitempty"`
}

// Alive is a service that answered ReportAliveName.
type Alive struct {
	Host   string `json:"host"`
	Binary string `json:"binary"`
}

// ReportResult is what a status report saw and wrote.
type ReportResult struct {
	// Source is where liveness was read: heartbeats or activities.
	Source string `json:"source"`
	// Seen is how many services of the topic were alive.
	Seen int `json:"seen"`
	// Reported is how many services' rows the report bumped.
	Reported int `json:"reported"`
	// Recreated names the services whose rows had been deleted while they
	// ran, created again by this report.
	Recreated []string `json:"recreated,omitempty"`
	// Gap is how long the topic had gone unobserved, when that was longer
	// than service_down_time.
	Gap string `json:"gap,omitempty"`
	// AskHosts, when the server keeps no worker heartbeats, are the hosts the
	// workflow must ask with ReportAliveName; nothing was written yet.
	AskHosts []string `json:"ask_hosts,omitempty"`
}

// PeriodicName is the name of a topic's periodic task: the workflow type that
// its schedule starts and the activity that workflow runs on each host,
// <topic>.periodic.<task> (compute.periodic.update_available_resource). It
// cannot collide with an RPC method's <topic>.<method>.
func PeriodicName(topic, task string) string { return topic + ".periodic." + task }

// PeriodicFailedType is the type of the application error of a periodic task
// that failed with RaiseOnError set.
const PeriodicFailedType = "PeriodicTaskFailed"

// PeriodicRequest is the input of a periodic task's run (the workflow, on
// the topic's queue) and of its activity on each host.
type PeriodicRequest struct {
	Topic string `json:"topic"`
	Task  string `json:"task"`
	// Hosts, in a run, limits it to these hosts (a service's run at start,
	// `novaflow service run-periodic --host`); empty: every up host of the
	// topic, disabled ones included, as nova runs periodic tasks on disabled
	// services.
	Hosts []string `json:"hosts,omitempty"`
	// Host is, in an activity, the host it is meant for.
	Host string `json:"host,omitempty"`
	// Spread is how far the hosts' runs are spread (a Go duration, such as
	// "30s"): each host waits a fixed part of it, derived from its name and
	// the task's, before it runs the task, so that a thousand hosts do not
	// run it in the same second.
	Spread string `json:"spread,omitempty"`
	// Check, in a run that names no hosts, is as ReportRequest's: the
	// services' schedules set it.
	Check bool `json:"check,omitempty"`
}

// PeriodicResult is one host's outcome of a periodic task's run.
type PeriodicResult struct {
	// Duration is how long the task ran, e.g. "1.2s".
	Duration string `json:"duration,omitempty"`
	// Error is the task's error when it failed without RaiseOnError: the run
	// succeeds, and the error is logged and kept here.
	Error string `json:"error,omitempty"`
	// ErrorType and ErrorField say what kind of failure Error is: a typed
	// error's Type and Field, or the Go error's kind
	// (activities.ErrorType).
	ErrorType  string `json:"error_type,omitempty"`
	ErrorField string `json:"error_field,omitempty"`
	// Skipped says why the task did not run on the host: still running from
	// an earlier run, or turned off on this host by its settings.
	Skipped string `json:"skipped,omitempty"`
}

// UpHostsName is the activity that lists the hosts of a topic that may be
// given work. Every service registers it on its queues, so a workflow running
// on a topic's queue can always reach it (workflows never touch the database).
const UpHostsName = "novaflow.up_hosts"

// UpHostsRequest is the input of UpHostsName.
type UpHostsRequest struct {
	// Topic is the topic whose hosts to list.
	Topic string `json:"topic"`
	// IncludeDisabled lists disabled services' hosts too: a disabled service
	// gets no new work but runs its periodic tasks, as in nova.
	IncludeDisabled bool `json:"include_disabled,omitempty"`
}

// UpHostsResult is the result of UpHostsName.
type UpHostsResult struct {
	// Hosts are the hosts of the topic's live, enabled and up services,
	// sorted.
	Hosts []string `json:"hosts"`
}
