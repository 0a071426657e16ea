// Package worker is the Service runtime: it hosts one Manager as a service
// process on a host, as nova's nova.service.Service does.
//
// A Service is created with nova's defaults (Create), starts in nova's order
// step for step (Service.Start), polls the Temporal task queues <topic> and
// <topic>.<host>, keeps its row in the services table, runs its status report
// and periodic tasks from Temporal Schedules, serves /healthz and /readyz, and
// stops gracefully: in-flight activities finish within the graceful shutdown
// timeout before CleanupHost runs.
package worker
