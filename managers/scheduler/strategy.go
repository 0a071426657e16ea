package scheduler

import (
	"sort"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/registry"
	"github.com/novaflow/novaflow/servicegroup"
)

// HostState is what filters and weighers see of one compute host.
type HostState struct {
	// Host is the host's name.
	Host string
	// Service is the host's compute service row; nil when it has none.
	Service *servicegroup.Record
	// Up is the service's liveness by nova's is_up rule.
	Up bool
	// Node is the host's compute node: capacity and claimed usage.
	Node store.Node
	// Free is the node's free capacity minus what the request being
	// scheduled has already placed on it.
	Free compute.Resources
}

// Spec is what is being placed: one instance of the request.
type Spec struct {
	Flavor      compute.Flavor
	IgnoreHosts []string
}

// Filter decides whether a host can take an instance (nova's BaseHostFilter).
type Filter interface {
	// Name names the filter in logs and in NoValidHost messages.
	Name() string
	// Passes reports whether host can take an instance of spec.
	Passes(host HostState, spec Spec) bool
}

// Weigher scores a host for an instance (nova's BaseHostWeigher). Scores are
// normalized over the candidate hosts, so only their order and spacing matter.
type Weigher interface {
	// Name names the weigher in logs.
	Name() string
	// Weigh returns the host's raw score: higher is better before the
	// multiplier.
	Weigh(host HostState, spec Spec) float64
}

// WeightedWeigher is a weigher with its multiplier: positive prefers high
// scores, negative low ones.
type WeightedWeigher struct {
	Weigher    Weigher
	Multiplier float64
}

// Strategy is a way of choosing hosts: filters, then weighers.
type Strategy struct {
	Filters  []Filter
	Weighers []WeightedWeigher
}

var strategies = registry.New[Strategy]("scheduler strategy")

// RegisterStrategy makes a strategy available under name, the value of
// NOVAFLOW_SCHEDULER_STRATEGY that selects it. It panics on an empty or
// duplicate name, as the registries of drivers and managers do.
func RegisterStrategy(name string, s Strategy) { strategies.Register(name, s) }

// LookupStrategy returns the strategy registered as name. An unknown name
// fails with a *registry.UnknownError (matching registry.ErrUnknown) that
// lists the registered strategies.
func LookupStrategy(name string) (Strategy, error) { return strategies.Lookup(name) }

// Strategies lists the registered strategy names, sorted.
func Strategies() []string { return strategies.Names() }

func init() {
	filters := []Filter{IgnoreHostsFilter{}, ComputeFilter{}, ResourceFilter{}}
	RegisterStrategy("spread", Strategy{Filters: filters, Weighers: []WeightedWeigher{{RAMWeigher{}, 1}}})
	RegisterStrategy("pack", Strategy{Filters: filters, Weighers: []WeightedWeigher{{RAMWeigher{}, -1}}})
}

// rejection counts the hosts one filter removed.
type rejection struct {
	filter string
	hosts  int
}

// filter returns the hosts that pass every filter, in order, and what each
// filter removed.
func (s Strategy) filter(hosts []HostState, spec Spec) ([]HostState, []rejection) {
	var rejected []rejection
	for _, f := range s.Filters {
		kept := hosts[:0:0]
		for _, h := range hosts {
			if f.Passes(h, spec) {
				kept = append(kept, h)
			}
		}
		if n := len(hosts) - len(kept); n > 0 {
			rejected = append(rejected, rejection{f.Name(), n})
		}
		hosts = kept
	}
	return hosts, rejected
}

// weigh orders hosts best first: the sum over weighers of the normalized
// score times the multiplier; ties go to the host name, so a choice is
// reproducible.
func (s Strategy) weigh(hosts []HostState, spec Spec) []HostState {
	total := make([]float64, len(hosts))
	raw := make([]float64, len(hosts))
	for _, w := range s.Weighers {
		lo, hi := 0.0, 0.0
		for i, h := range hosts {
			raw[i] = w.Weigher.Weigh(h, spec)
			if i == 0 || raw[i] < lo {
				lo = raw[i]
			}
			if i == 0 || raw[i] > hi {
				hi = raw[i]
			}
		}
		for i := range hosts {
			if hi > lo {
				total[i] += w.Multiplier * (raw[i] - lo) / (hi - lo)
			}
		}
	}
	idx := make([]int, len(hosts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if total[idx[a]] != total[idx[b]] {
			return total[idx[a]] > total[idx[b]]
		}
		return hosts[idx[a]].Host < hosts[idx[b]].Host
	})
	out := make([]HostState, len(hosts))
	for i, j := range idx {
		out[i] = hosts[j]
	}
	return out
}
