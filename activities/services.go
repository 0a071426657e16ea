package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/workflows"
)

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
	r.RegisterActivityWithOptions(s.UpHosts, activity.RegisterOptions{Name: workflows.UpHostsName})
}

// UpHosts lists the hosts of the topic's enabled services that are up: the
// hosts a fanout runs on (with IncludeDisabled, the disabled ones too: the
// hosts a periodic task runs on).
func (s *Services) UpHosts(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
	if req.Topic == "" {
		return workflows.UpHostsResult{}, ToApplicationError(managers.InvalidArgument("topic", "is required"))
	}
	recs, err := s.Store.Up(ctx, req.Topic, s.downTime(), req.IncludeDisabled)
	if err != nil {
		return workflows.UpHostsResult{}, fmt.Errorf("list up hosts of topic %s: %w", req.Topic, err)
	}
	out := workflows.UpHostsResult{Hosts: make([]string, 0, len(recs))}
	for _, r := range recs {
		out.Hosts = append(out.Hosts, r.Host)
	}
	return out, nil
}
