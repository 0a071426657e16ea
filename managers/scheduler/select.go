package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// SelectRequest is the request of select_destinations.
type SelectRequest struct {
	// Flavor is the size of each instance.
	Flavor compute.Flavor `json:"flavor" required:"true"`
	// NumInstances is how many instances to place; default: the number of
	// InstanceUUIDs, else 1.
	NumInstances int `json:"num_instances,omitempty"`
	// InstanceUUIDs, when set, names the instances (their rows exist): each
	// is claimed on its selected host.
	InstanceUUIDs []string `json:"instance_uuids,omitempty"`
	// IgnoreHosts are hosts not to consider (e.g. those a build failed on).
	IgnoreHosts []string `json:"ignore_hosts,omitempty"`
	// MaxAttempts bounds the hosts returned per instance: the selected one
	// and up to MaxAttempts-1 alternates; default NOVAFLOW_SCHEDULER_MAX_ATTEMPTS.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// Validate checks the flavor, the counts and the UUIDs.
func (r SelectRequest) Validate() error {
	switch {
	case r.Flavor.VCPUs < 1:
		return managers.InvalidArgument("flavor.vcpus", "must be at least 1, got %d", r.Flavor.VCPUs)
	case r.Flavor.MemoryMB < 1:
		return managers.InvalidArgument("flavor.memory_mb", "must be at least 1, got %d", r.Flavor.MemoryMB)
	case r.Flavor.DiskGB < 0:
		return managers.InvalidArgument("flavor.disk_gb", "must not be negative, got %d", r.Flavor.DiskGB)
	case r.NumInstances < 0:
		return managers.InvalidArgument("num_instances", "must not be negative, got %d", r.NumInstances)
	case r.NumInstances > 0 && len(r.InstanceUUIDs) > 0 && r.NumInstances != len(r.InstanceUUIDs):
		return managers.InvalidArgument("num_instances", "is %d but %d instance_uuids are given", r.NumInstances, len(r.InstanceUUIDs))
	case r.MaxAttempts < 0:
		return managers.InvalidArgument("max_attempts", "must not be negative, got %d", r.MaxAttempts)
	case r.NumInstances > MaxInstances || len(r.InstanceUUIDs) > MaxInstances:
		return managers.InvalidArgument("num_instances", "at most %d instances per request", MaxInstances)
	}
	var ie *compute.InvalidError
	if err := r.Flavor.Validate(); errors.As(err, &ie) {
		return managers.InvalidArgument(ie.Field, "%s", ie.Reason)
	}
	return managers.CheckUUIDs("instance_uuids", r.InstanceUUIDs)
}

// MaxInstances bounds the instances of one select_destinations request.
const MaxInstances = 1000

func (r SelectRequest) count() int {
	switch {
	case r.NumInstances > 0:
		return r.NumInstances
	case len(r.InstanceUUIDs) > 0:
		return len(r.InstanceUUIDs)
	default:
		return 1
	}
}

// Selection is the destination of one instance.
type Selection struct {
	// InstanceUUID is the instance, when the request named it.
	InstanceUUID string `json:"instance_uuid,omitempty"`
	// Host is the selected host; the instance is claimed there when the
	// request named it.
	Host string `json:"host"`
	// Alternates are the next best hosts, best first, for reschedules.
	Alternates []string `json:"alternates"`
}

// SelectResponse is the result of select_destinations.
type SelectResponse struct {
	// Destinations has one selection per instance, in request order.
	Destinations []Selection `json:"destinations"`
}

// SelectDestinations chooses a host and alternates for each instance of the
// request with the configured strategy, claiming named instances on their
// hosts. All or nothing: when one instance finds no host, the claims made for
// the others are released and the error has type NoValidHost.
func (m *Manager) SelectDestinations(ctx context.Context, req SelectRequest) (SelectResponse, error) {
	hosts, err := m.hostStates(ctx)
	if err != nil {
		return SelectResponse{}, fmt.Errorf("select destinations: %w", err)
	}
	attempts := req.MaxAttempts
	if attempts == 0 {
		attempts = m.cfg.MaxAttempts
	}
	spec := Spec{Flavor: req.Flavor, IgnoreHosts: req.IgnoreHosts}
	var out SelectResponse
	var claimed []Selection
	fail := func(err error) (SelectResponse, error) {
		for _, c := range claimed {
			if rerr := m.store.Release(context.WithoutCancel(ctx), c.InstanceUUID, c.Host); rerr != nil {
				m.logger.ErrorContext(ctx, "release a claim of a failed request", "instance", c.InstanceUUID, "host", c.Host, "error", rerr)
			}
		}
		return SelectResponse{}, err
	}
	for i := range req.count() {
		candidates, rejected := m.strategy.filter(hosts, spec)
		candidates = m.strategy.weigh(candidates, spec)
		sel := Selection{}
		if i < len(req.InstanceUUIDs) {
			sel.InstanceUUID = req.InstanceUUIDs[i]
		}
		chosen := -1
		for j, h := range candidates {
			if sel.InstanceUUID == "" {
				chosen = j
				break
			}
			_, err := m.store.Claim(ctx, sel.InstanceUUID, h.Host)
			var ce *store.ClaimedError
			var de *store.ConflictError
			switch {
			case err == nil:
				chosen = j
			case errors.As(err, &ce):
				// Claimed by an earlier run of this request: keep it.
				sel.Host = ce.Host
			case errors.Is(err, store.ErrInsufficient), errors.Is(err, store.ErrNoNode):
				m.logger.InfoContext(ctx, "host lost a race for its capacity; trying the next", "host", h.Host, "instance", sel.InstanceUUID)
				m.refresh(ctx, hosts, h.Host)
				continue
			case errors.Is(err, store.ErrNotFound):
				return fail(managers.NotFound("instance", sel.InstanceUUID))
			case errors.As(err, &de): // being deleted: Field store.DeletingField
				return fail(de.Typed(err.Error()))
			default:
				return fail(fmt.Errorf("select destinations: %w", err))
			}
			break
		}
		if chosen < 0 && sel.Host == "" {
			return fail(noValidHost(len(hosts), rejected, i))
		}
		if chosen >= 0 {
			sel.Host = candidates[chosen].Host
		}
		for _, h := range candidates {
			if len(sel.Alternates) >= attempts-1 {
				break
			}
			if h.Host != sel.Host {
				sel.Alternates = append(sel.Alternates, h.Host)
			}
		}
		if sel.Alternates == nil {
			sel.Alternates = []string{}
		}
		consume(hosts, sel.Host, req.Flavor)
		if sel.InstanceUUID != "" {
			claimed = append(claimed, sel)
		}
		out.Destinations = append(out.Destinations, sel)
	}
	m.logger.DebugContext(ctx, "destinations selected", "destinations", out.Destinations)
	return out, nil
}

// consume takes the flavor from host's free capacity, so that the next
// instance of the request sees it (nova's consume_from_request).
func consume(hosts []HostState, host string, f compute.Flavor) {
	for i := range hosts {
		if hosts[i].Host == host {
			hosts[i].Free.VCPUs -= f.VCPUs
			hosts[i].Free.MemoryMB -= f.MemoryMB
			hosts[i].Free.DiskGB -= f.DiskGB
		}
	}
}

// refresh re-reads host's node after a claim on it failed, so that the next
// instances of the request see its usage as it is now (which includes the
// claims this request made).
func (m *Manager) refresh(ctx context.Context, hosts []HostState, host string) {
	n, err := m.store.Node(ctx, host)
	for i := range hosts {
		if hosts[i].Host != host {
			continue
		}
		if err != nil {
			hosts[i].Free = compute.Resources{} // gone: nothing fits
			continue
		}
		hosts[i].Node, hosts[i].Free = n, n.Free()
	}
}

// noValidHost says why no host could take instance number i.
func noValidHost(total int, rejected []rejection, i int) error {
	var why []string
	for _, r := range rejected {
		why = append(why, fmt.Sprintf("%s removed %d", r.filter, r.hosts))
	}
	msg := fmt.Sprintf("No valid host was found for instance %d of the request: %d compute hosts", i+1, total)
	if len(why) > 0 {
		msg += "; " + strings.Join(why, ", ")
	}
	if total > 0 && len(why) == 0 {
		msg += "; every candidate lost its capacity to concurrent requests"
	}
	return &managers.Error{Type: NoValidHostType, Message: msg}
}
