package scheduler

import (
	"slices"

	"github.com/novaflow/novaflow/managers/compute/store"
)

// ComputeFilter passes hosts whose compute service is enabled and up
// (nova's ComputeFilter).
type ComputeFilter struct{}

// Name returns "ComputeFilter".
func (ComputeFilter) Name() string { return "ComputeFilter" }

// Passes reports whether the host's service is enabled and up.
func (ComputeFilter) Passes(h HostState, _ Spec) bool {
	return h.Service != nil && !h.Service.Disabled && h.Up
}

// ResourceFilter passes hosts with enough free vCPUs, memory and disk for the
// flavor, without over-commit (nova's CoreFilter, RamFilter and DiskFilter
// with allocation ratios of 1.0).
type ResourceFilter struct{}

// Name returns "ResourceFilter".
func (ResourceFilter) Name() string { return "ResourceFilter" }

// Passes reports whether the flavor fits in the host's free capacity.
func (ResourceFilter) Passes(h HostState, s Spec) bool { return store.Fits(h.Free, s.Flavor) }

// IgnoreHostsFilter removes the hosts the request says to ignore (nova's
// ignore_hosts).
type IgnoreHostsFilter struct{}

// Name returns "IgnoreHostsFilter".
func (IgnoreHostsFilter) Name() string { return "IgnoreHostsFilter" }

// Passes reports whether the host is not ignored.
func (IgnoreHostsFilter) Passes(h HostState, s Spec) bool {
	return !slices.Contains(s.IgnoreHosts, h.Host)
}

// RAMWeigher scores hosts by free memory (nova's RAMWeigher): with a
// positive multiplier the emptiest host wins (spread), with a negative one
// the fullest that still fits (pack).
type RAMWeigher struct{}

// Name returns "RAMWeigher".
func (RAMWeigher) Name() string { return "RAMWeigher" }

// Weigh returns the host's free memory in MB.
func (RAMWeigher) Weigh(h HostState, _ Spec) float64 { return float64(h.Free.MemoryMB) }
