package telemetry

import "os"

// sdkGetenv returns the value of the OTEL_* variable key in the process's
// environment: the one read of it in the framework below cmd, and on
// purpose. The OpenTelemetry SDK reads its own variables from there and
// takes no environment from its caller: the OTLP exporters read
// OTEL_EXPORTER_OTLP_* (endpoints, protocols, headers), autoexport
// OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER, the resource
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, the tracer provider
// OTEL_TRACES_SAMPLER and OTEL_BSP_*. Setup reads a few of those too (is
// an endpoint set, which protocol, which exporter): from the same place,
// so that what it decides and what the SDK then builds cannot disagree.
// What the SDK does not read (OTEL_PROPAGATORS, OTEL_SDK_DISABLED) comes in
// Config, from the environment cmd was given.
func sdkGetenv(key string) string { return os.Getenv(key) }
