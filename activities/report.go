package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workerpb "go.temporal.io/api/worker/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/workflows"
)

// ReportFailedType is the type of the application error of a report that could
// not be made (Temporal or the database unreachable, for one). The report
// schedule's next run is the retry.
const ReportFailedType = "ReportFailed"

// Observer makes the status reports of one topic: it reads which services of
// the topic are alive from Temporal and writes them in the services table in
// one statement (servicegroup.Store.Observe). It remembers whether the last
// report failed, so that an outage is logged once when it begins and once
// when reports recover, however many reports fail in between.
type Observer struct {
	Store     *servicegroup.Store
	Client    client.Client
	Namespace string
	Topic     string
	// DownTime returns the effective service_down_time now.
	DownTime func() time.Duration
	Logger   *slog.Logger

	mu          sync.Mutex
	failures    int
	failedSince time.Time
}

// Report is the local activity <topic>.report_state.
func (o *Observer) Report(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
	if req.Topic != o.Topic {
		return workflows.ReportResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("report of topic %s reached the worker of topic %s", req.Topic, o.Topic), "WrongService", nil)
	}
	res, err := o.report(ctx, req)
	if err != nil {
		o.failed(err)
		return workflows.ReportResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ReportFailedType, err)
	}
	o.succeeded()
	return res, nil
}

func (o *Observer) report(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
	obs := servicegroup.Observation{Topic: o.Topic, DownTime: o.DownTime()}
	if req.Asked {
		obs.Source = servicegroup.SourceActivities
		for _, a := range req.Alive {
			obs.Seen = append(obs.Seen, servicegroup.Sighting{Host: a.Host, Binary: a.Binary})
		}
	} else {
		seen, err := o.heartbeats(ctx, obs.DownTime)
		if isUnimplemented(err) {
			hosts, err := o.hosts(ctx)
			if err != nil {
				return workflows.ReportResult{}, err
			}
			return workflows.ReportResult{Source: servicegroup.SourceActivities, AskHosts: hosts}, nil
		}
		if err != nil {
			return workflows.ReportResult{}, fmt.Errorf("read the worker heartbeats of topic %s: %w", o.Topic, err)
		}
		obs.Source, obs.Seen = servicegroup.SourceHeartbeats, seen
	}
	w, err := o.Store.Observe(ctx, obs)
	if err != nil {
		return workflows.ReportResult{}, err
	}
	for _, svc := range w.Recreated {
		o.Logger.Warn("a running service's record had been deleted: this report created it again", "service", svc)
	}
	res := workflows.ReportResult{Source: obs.Source, Seen: len(obs.Seen), Reported: w.Reported, Recreated: w.Recreated}
	if w.Gap > 0 {
		res.Gap = w.Gap.Round(time.Second).String()
		o.Logger.Warn("status reports resumed after a gap: services not seen again yet show unknown, not down, for service_down_time",
			"topic", o.Topic, "gap", res.Gap)
	}
	return res, nil
}

// heartbeats lists the services of the topic whose workers are running, from
// the worker heartbeats the Temporal SDK sends (ListWorkers): each service's
// worker on the topic's queue, named <binary>@<host>. A heartbeat older than
// downTime plus the worker's heartbeat cadence by this clock is left out (a
// worker long dead that the server still lists).
func (o *Observer) heartbeats(ctx context.Context, downTime time.Duration) ([]servicegroup.Sighting, error) {
	now := time.Now()
	latest := map[[2]string]servicegroup.Sighting{}
	var token []byte
	for {
		resp, err := o.Client.WorkflowService().ListWorkers(ctx, &workflowservice.ListWorkersRequest{
			Namespace:     o.Namespace,
			PageSize:      1000,
			NextPageToken: token,
			Query:         fmt.Sprintf("TaskQueue = '%s'", o.Topic),
		})
		if err != nil {
			return nil, err
		}
		//nolint:staticcheck // SA1019: the only field with heartbeat times on server 1.29
		for _, info := range resp.GetWorkersInfo() {
			hb := info.GetWorkerHeartbeat()
			if hb.GetTaskQueue() != o.Topic || hb.GetStatus() != enumspb.WORKER_STATUS_RUNNING || hb.GetHeartbeatTime() == nil {
				continue
			}
			binary, host, ok := ParseIdentity(hb.GetWorkerIdentity())
			if !ok {
				continue
			}
			at := hb.GetHeartbeatTime().AsTime()
			age := now.Sub(at)
			// How often it heartbeats: the gap before its last heartbeat
			// (unknown for a first one).
			var cadence time.Duration
			if e := hb.GetElapsedSinceLastHeartbeat(); e != nil {
				cadence = e.AsDuration()
			}
			if age > downTime+cadence {
				continue
			}
			key := [2]string{host, binary}
			if cur, ok := latest[key]; !ok || at.After(cur.Heartbeat) {
				latest[key] = servicegroup.Sighting{Host: host, Binary: binary, Heartbeat: at, Age: age, Cadence: cadence}
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	out := make([]servicegroup.Sighting, 0, len(latest))
	for _, s := range latest {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b servicegroup.Sighting) int { return strings.Compare(a.Host, b.Host) })
	return out, nil
}

// Stopped says whether the service binary on host of topic has stopped
// gracefully, by its last worker heartbeat on the topic's queue: true when it
// says shutting down or shut down. known is false when the server keeps no
// worker heartbeats, or has none of the service's.
func Stopped(ctx context.Context, c client.Client, namespace, topic, binary, host string) (stopped, known bool, err error) {
	resp, err := c.WorkflowService().ListWorkers(ctx, &workflowservice.ListWorkersRequest{
		Namespace: namespace,
		PageSize:  100,
		Query:     fmt.Sprintf("TaskQueue = '%s' AND WorkerIdentity = '%s'", topic, Identity(binary, host)),
	})
	if isUnimplemented(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	var last *workerpb.WorkerHeartbeat
	//nolint:staticcheck // SA1019: the only field with heartbeat times on server 1.29
	for _, info := range resp.GetWorkersInfo() {
		hb := info.GetWorkerHeartbeat()
		if last == nil || hb.GetHeartbeatTime().AsTime().After(last.GetHeartbeatTime().AsTime()) {
			last = hb
		}
	}
	if last == nil {
		return false, false, nil
	}
	return last.GetStatus() != enumspb.WORKER_STATUS_RUNNING, true, nil
}

// hosts lists the hosts of the topic's live rows that are not forced down:
// the services a report without heartbeats asks.
func (o *Observer) hosts(ctx context.Context) ([]string, error) {
	recs, _, err := o.Store.List(ctx, servicegroup.Filter{Topic: o.Topic})
	if err != nil {
		return nil, err
	}
	hosts := make([]string, 0, len(recs))
	for _, r := range recs {
		if !r.ForcedDown {
			hosts = append(hosts, r.Host)
		}
	}
	return hosts, nil
}

// Identity is the Temporal worker identity of the service binary on host,
// <binary>@<host>: what the Web UI shows as the worker of each task, and how
// a status report knows a service from its worker heartbeat.
func Identity(binary, host string) string { return binary + "@" + host }

// ParseIdentity splits an Identity.
func ParseIdentity(id string) (binary, host string, ok bool) {
	binary, host, ok = strings.Cut(id, "@")
	return binary, host, ok && binary != "" && host != ""
}

// AliveFunc returns the activity workflows.ReportAliveName of the service binary on
// host: it answers who it is.
func AliveFunc(binary, host string) func(context.Context) (workflows.Alive, error) {
	return func(context.Context) (workflows.Alive, error) {
		return workflows.Alive{Host: host, Binary: binary}, nil
	}
}

func isUnimplemented(err error) bool {
	var u *serviceerror.Unimplemented
	return errors.As(err, &u)
}

// failed logs the first failure of a run of failures at error level, the
// others at debug level.
func (o *Observer) failed(err error) {
	o.mu.Lock()
	o.failures++
	first := o.failures == 1
	if first {
		o.failedSince = time.Now()
	}
	n := o.failures
	o.mu.Unlock()
	if first {
		o.Logger.Error("status report failed; services keep running, and the report runs again every report_interval (logged once until it recovers)",
			"topic", o.Topic, "error", err)
		return
	}
	o.Logger.Debug("status report failed again", "topic", o.Topic, "failures", n, "error", err)
}

// succeeded logs "recovered" after a run of failures.
func (o *Observer) succeeded() {
	o.mu.Lock()
	n, since := o.failures, o.failedSince
	o.failures = 0
	o.mu.Unlock()
	if n > 0 {
		o.Logger.Info("status report recovered", "topic", o.Topic, "failed_reports", n, "failing_for", time.Since(since).Round(time.Millisecond))
	}
}
