package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/novaflow/novaflow/managers"
)

// FindHostMethod is the method part of FindHostName, reserved: it is the
// activity that finds the host of a routed call's object.
const FindHostMethod = "find_host"

// FindHostName is the activity <topic>.find_host of a topic whose manager is a
// managers.Router.
func FindHostName(topic string) string { return Name(topic, FindHostMethod) }

// FindHostRequest is the input of <topic>.find_host: the method being called
// and the value of its object field.
type FindHostRequest struct {
	Method string `json:"method"`
	Object string `json:"object"`
}

// RegisterRouter registers r.Route as activity <topic>.find_host on reg.
func RegisterRouter(reg Registry, topic string, r managers.Router) {
	reg.RegisterActivityWithOptions(func(ctx context.Context, req FindHostRequest) (string, error) {
		host, err := r.Route(ctx, req.Method, req.Object)
		if err != nil {
			return "", ToApplicationError(err)
		}
		return host, nil
	}, activity.RegisterOptions{Name: FindHostName(topic)})
}
