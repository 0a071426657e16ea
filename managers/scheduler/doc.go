// Package scheduler is the scheduler manager of the reference control plane
// (topic scheduler), as nova's filter scheduler: select_destinations picks,
// for each instance of a request, a compute host and alternates.
//
// A host is considered when its compute service is enabled and up (nova's
// is_up, with the runtime's effective service_down_time) and it has a
// compute node row. A Strategy, chosen by name with
// NOVAFLOW_SCHEDULER_STRATEGY, is a list of filters (a host passes or not)
// and weighers (a score per host, normalized to [0, 1] over the candidates,
// times a multiplier, summed): the host with the highest weight is chosen and
// the next ones are its alternates. Two strategies are built in:
//
//	spread  most free memory first: instances spread over hosts (nova's
//	        default ram_weight_multiplier=1.0)
//	pack    least free memory first: hosts fill up one after the other
//	        (ram_weight_multiplier=-1.0)
//
// Strategies are manager-level: they decide where work goes, whatever the
// compute driver (a driver-level choice) that runs it. RegisterStrategy adds
// one, with Filter and Weigher implementations of its own.
//
// When the request names its instances, the scheduler claims each one on
// its chosen host (as nova's scheduler claims in placement): the claim locks
// the host's compute node row, so concurrent requests never over-commit a
// host; a host that lost a race is skipped for the next one. Alternates are
// not claimed: the conductor claims one when it reschedules.
package scheduler
