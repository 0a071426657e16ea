package scheduler

import (
	"slices"
	"sync"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/servicegroup"
)

func host(name string, up, disabled bool, freeMB int) HostState {
	svc := &servicegroup.Record{Host: name, Topic: "compute", Disabled: disabled}
	n := store.Node{Host: name, VCPUs: 8, MemoryMB: 8192, DiskGB: 100, MemoryMBUsed: 8192 - freeMB}
	return HostState{Host: name, Service: svc, Up: up, Node: n, Free: n.Free()}
}

func names(hosts []HostState) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Host)
	}
	return out
}

func TestStrategies(t *testing.T) {
	hosts := []HostState{
		host("a", true, false, 1024),
		host("b", true, false, 4096),
		host("c", true, false, 2048),
		host("down", false, false, 8192),
		host("disabled", true, true, 8192),
		host("full", true, false, 256),
		{Host: "no-service", Node: store.Node{Host: "no-service", VCPUs: 8, MemoryMB: 8192, DiskGB: 100},
			Free: compute.Resources{VCPUs: 8, MemoryMB: 8192, DiskGB: 100}},
	}
	flavor := compute.Flavor{VCPUs: 1, MemoryMB: 512, DiskGB: 1}
	tests := []struct {
		strategy string
		spec     Spec
		want     []string
		rejected []rejection
	}{
		{strategy: "spread", spec: Spec{Flavor: flavor}, want: []string{"b", "c", "a"},
			rejected: []rejection{{"ComputeFilter", 3}, {"ResourceFilter", 1}}},
		{strategy: "pack", spec: Spec{Flavor: flavor}, want: []string{"a", "c", "b"},
			rejected: []rejection{{"ComputeFilter", 3}, {"ResourceFilter", 1}}},
		{strategy: "spread", spec: Spec{Flavor: flavor, IgnoreHosts: []string{"b"}}, want: []string{"c", "a"},
			rejected: []rejection{{"IgnoreHostsFilter", 1}, {"ComputeFilter", 3}, {"ResourceFilter", 1}}},
		{strategy: "spread", spec: Spec{Flavor: compute.Flavor{VCPUs: 1, MemoryMB: 2048}}, want: []string{"b", "c"},
			rejected: []rejection{{"ComputeFilter", 3}, {"ResourceFilter", 2}}},
		{strategy: "spread", spec: Spec{Flavor: compute.Flavor{VCPUs: 9, MemoryMB: 1}}, want: nil,
			rejected: []rejection{{"ComputeFilter", 3}, {"ResourceFilter", 4}}},
		{strategy: "pack", spec: Spec{Flavor: compute.Flavor{VCPUs: 1, MemoryMB: 1, DiskGB: 101}}, want: nil,
			rejected: []rejection{{"ComputeFilter", 3}, {"ResourceFilter", 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			s, err := LookupStrategy(tt.strategy)
			if err != nil {
				t.Fatal(err)
			}
			kept, rejected := s.filter(slices.Clone(hosts), tt.spec)
			if got := names(s.weigh(kept, tt.spec)); !slices.Equal(got, tt.want) {
				t.Errorf("hosts = %v, want %v", got, tt.want)
			}
			if !slices.Equal(rejected, tt.rejected) {
				t.Errorf("rejected = %v, want %v", rejected, tt.rejected)
			}
		})
	}
}

func TestWeighTiesGoToTheHostName(t *testing.T) {
	s, _ := LookupStrategy("spread")
	hosts := []HostState{host("c", true, false, 1024), host("a", true, false, 1024), host("b", true, false, 1024)}
	if got := names(s.weigh(hosts, Spec{})); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("order = %v", got)
	}
}

var registerOnce sync.Once

func TestRegisterStrategy(t *testing.T) {
	registerOnce.Do(func() {
		RegisterStrategy("test-most-vcpus", Strategy{Weighers: []WeightedWeigher{{vcpuWeigher{}, 1}}})
	})
	if got := Strategies(); !slices.Contains(got, "test-most-vcpus") || !slices.IsSorted(got) {
		t.Errorf("Strategies() = %v", got)
	}
	if _, err := LookupStrategy("nope"); err == nil || err.Error() != `unknown scheduler strategy "nope" (forgotten import?); registered: pack, spread, test-most-vcpus` {
		t.Errorf("LookupStrategy(nope) = %v", err)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("a duplicate RegisterStrategy did not panic")
		}
	}()
	RegisterStrategy("spread", Strategy{})
}

type vcpuWeigher struct{}

func (vcpuWeigher) Name() string                      { return "vcpus" }
func (vcpuWeigher) Weigh(h HostState, _ Spec) float64 { return float64(h.Free.VCPUs) }
