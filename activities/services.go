package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
)

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

// Services holds the activities that read the services table for workflows.
type Services struct {
	// Store is the services table.
	Store *servicegroup.Store
	// DownTime is the effective service_down_time that judges a service up.
	DownTime time.Duration
	// CurrentDownTime, when set, returns DownTime as it is now (a service's
	// settings after SIGHUP); read at each call.
	CurrentDownTime func() time.Duration
}

func (s *Services) downTime() time.Duration {
	if s.CurrentDownTime != nil {
		if d := s.CurrentDownTime(); d > 0 {
			return d
		}
	}
	return s.DownTime
}

// RegisterServices registers s's activities on r.
func RegisterServices(r Registry, s *Services) {
	r.RegisterActivityWithOptions(s.UpHosts, activity.RegisterOptions{Name: UpHostsName})
}

// UpHosts lists the hosts of the topic's enabled services that are up: the
// hosts a fanout runs on (with IncludeDisabled, the disabled ones too: the
// hosts a periodic task runs on).
func (s *Services) UpHosts(ctx context.Context, req UpHostsRequest) (UpHostsResult, error) {
	if req.Topic == "" {
		return UpHostsResult{}, ToApplicationError(managers.InvalidArgument("topic", "is required"))
	}
	recs, err := s.Store.Up(ctx, req.Topic, s.downTime(), req.IncludeDisabled)
	if err != nil {
		return UpHostsResult{}, fmt.Errorf("list up hosts of topic %s: %w", req.Topic, err)
	}
	out := UpHostsResult{Hosts: make([]string, 0, len(recs))}
	for _, r := range recs {
		out.Hosts = append(out.Hosts, r.Host)
	}
	return out, nil
}
