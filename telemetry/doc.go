// Package telemetry is novaflow's OpenTelemetry: traces, metrics and the
// trace IDs on log lines (docs/observability.md).
//
// Setup follows the standard OTEL_* environment variables, builds the tracer
// and meter providers, and installs them, with the propagator
// OTEL_PROPAGATORS names (Config.Propagators), as the OpenTelemetry globals.
// The SDK reads the exporters' variables from the process's environment
// itself, and Setup reads the few it decides on from there too (sdkGetenv);
// OTEL_PROPAGATORS and OTEL_SDK_DISABLED come in Config, from cmd. Every
// instrumentation point takes its tracer or meter from the globals when it is
// built, as OpenTelemetry instrumentation libraries do. With no exporter
// configured the globals are no-op providers, so instrumentation costs next
// to nothing. The pieces:
//
//   - ClientOptions adds to Temporal client options the SDK's OpenTelemetry
//     tracing interceptor (client and worker side), novaflow's own
//     interceptor and, when metrics are on, the SDK's metrics through the
//     OpenTelemetry metrics handler. novaflow's interceptor puts a span and
//     metrics around each manager method, periodic task and status report
//     that a worker runs, and creates schedules without the caller's trace,
//     so that each scheduled run starts a trace of its own.
//   - Instruments are novaflow's own metrics and client spans: RPC calls
//     under the OpenTelemetry RPC semantic conventions' names
//     (rpc.client.call.duration, rpc.server.call.duration, by rpc.method and
//     error.type; package rpc records the client side), periodic tasks' runs,
//     duration and lag, the housekeeping's cost, status reports, and the
//     services table's view of which services are up.
//   - Spans starts spans of a component's own steps (the reference compute
//     manager traces its driver's calls with it); Tracing says whether
//     spans are recorded.
//   - LogHandler adds trace_id and span_id to the log lines of a context
//     that carries a span.
//
// The SQL statements are traced by the pgx tracer that package internal/db
// installs on every pool.
//
// telemetry knows the names of novaflow's activities (package activities)
// and its typed errors (package managers); neither of those may import it.
package telemetry
