package rpc

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// DynamicRegistry is where a host's catch-all workflow is registered: a
// Temporal worker (go.temporal.io/sdk/worker.Worker).
type DynamicRegistry interface {
	RegisterDynamicWorkflow(w any, options workflow.DynamicRegisterOptions)
}

// RegisterUnknownMethods registers, on the worker of one host's queue
// <topic>.<host>, the workflow that answers a call of a method this host's
// code does not have (a newer release's method, or a typo from the shell):
// it fails at once with a non-retryable UnsupportedVersion error naming the
// method, the host and the version its code serves, as nova's older service
// answers a newer message. Without it the call's workflow task would fail on
// this host again and again until the call timed out, since no other worker
// polls a host's queue. serves is the highest method version of the host's
// code ("" when it declares none).
//
// It is registered on the host's queue only: on the topic's shared queue a
// newer host of the topic may still take such a call during an upgrade.
func RegisterUnknownMethods(r DynamicRegistry, topic, host, serves string) {
	r.RegisterDynamicWorkflow(unknownMethod(topic, host, serves), workflow.DynamicRegisterOptions{})
}

// ServedVersion is the highest version among methods: what a host whose code
// declares them serves.
func ServedVersion(methods []managers.Method) string {
	best := ""
	for _, m := range methods {
		if best == "" {
			best = m.Version
			continue
		}
		if c, err := managers.CompareVersions(m.Version, best); err == nil && c > 0 {
			best = m.Version
		}
	}
	return best
}

func unknownMethod(topic, host, serves string) func(workflow.Context, converter.EncodedValues) (any, error) {
	return func(ctx workflow.Context, _ converter.EncodedValues) (any, error) {
		name := workflow.GetInfo(ctx).WorkflowType.Name
		what := "method " + name
		if !strings.HasPrefix(name, topic+".") {
			what = "workflow type " + name + " (not a method of topic " + topic + ")"
		}
		served := ""
		if serves != "" {
			served = ", whose code serves up to version " + serves
		}
		err := &managers.Error{Type: managers.UnsupportedVersionType, Field: "method", Message: fmt.Sprintf(
			"host %s of topic %s has no %s%s: a caller of a newer release reached an older host (cap it with %s), or the name is wrong",
			host, topic, what, served, UpgradeLevelEnv(topic))}
		return nil, activities.ToApplicationError(err)
	}
}
