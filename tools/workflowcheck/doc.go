// Package workflowcheck pins Temporal's workflowcheck, the static check that
// workflow code is deterministic. .ci/run runs it over the workflow packages
// with the configuration in workflowcheck.yaml.
package workflowcheck
