package activities

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/servicegroup"
)

// ReportStateName is the name of a topic's status report: the workflow type
// that its report schedule starts and the local activity that workflow runs,
// <topic>.report_state (nova's ServiceGroup report_state). A manager may not
// declare an RPC method named report_state.
func ReportStateName(topic string) string { return Name(topic, ReportStateMethod) }

// ReportStateMethod is the method part of ReportStateName, reserved: it is the
// value of search attribute NovaflowMethod on report runs.
const ReportStateMethod = "report_state"

// ReportFailedType is the type of the application error of a report that could
// not be written (the database is unreachable, for one). The report schedule's
// next run is the retry.
const ReportFailedType = "ReportFailed"

// ReportRequest is the input of a status report: the service that reports.
type ReportRequest struct {
	Host   string `json:"host"`
	Binary string `json:"binary"`
	Topic  string `json:"topic"`
}

// ReportResult is what a status report wrote.
type ReportResult struct {
	// ReportCount is the service's report_count after this report.
	ReportCount int64 `json:"report_count"`
	// LastSeenUp is the time the report recorded, on the database's clock.
	LastSeenUp time.Time `json:"last_seen_up"`
	// Recreated says the service's row had been deleted and this report
	// created it again.
	Recreated bool `json:"recreated,omitempty"`
}

// Reporter writes the status reports of one service: report_count += 1 and
// last_seen_up = now in its row (servicegroup.Store.Report). It remembers
// whether the last report failed, so that a database outage is logged once
// when it begins and once when reports recover, however many reports fail in
// between; the service keeps running throughout.
type Reporter struct {
	store               *servicegroup.Store
	host, binary, topic string
	version             int
	logger              *slog.Logger

	mu          sync.Mutex
	failures    int       // consecutive failed reports
	failedSince time.Time // when the first of them failed
}

// NewReporter returns the Reporter of the service binary on host, serving
// topic at service version version. It logs to logger.
func NewReporter(store *servicegroup.Store, host, binary, topic string, version int, logger *slog.Logger) *Reporter {
	return &Reporter{store: store, host: host, binary: binary, topic: topic, version: version, logger: logger}
}

// Report writes one status report. A request for another service fails
// without retry (it reached the wrong worker). A failed write returns a
// non-retryable ReportFailed application error: the schedule's next run
// retries, as nova's next heartbeat does.
func (r *Reporter) Report(ctx context.Context, req ReportRequest) (ReportResult, error) {
	if req.Host != r.host || req.Binary != r.binary {
		return ReportResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("report for %s on %s reached the worker of %s on %s", req.Binary, req.Host, r.binary, r.host),
			"WrongService", nil)
	}
	rec, recreated, err := r.store.Report(ctx, r.host, r.binary, r.topic, r.version)
	if err != nil {
		r.failed(err)
		return ReportResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ReportFailedType, err)
	}
	r.succeeded()
	if recreated {
		r.logger.Warn("the service's record had been deleted while it ran: this report created it again",
			"report_count", rec.ReportCount)
	}
	out := ReportResult{ReportCount: rec.ReportCount, Recreated: recreated}
	if rec.LastSeenUp != nil {
		out.LastSeenUp = *rec.LastSeenUp
	}
	return out, nil
}

// failed logs the first failure of a run of failures at error level, the
// others at debug level.
func (r *Reporter) failed(err error) {
	r.mu.Lock()
	r.failures++
	first := r.failures == 1
	if first {
		r.failedSince = time.Now()
	}
	n := r.failures
	r.mu.Unlock()
	if first {
		r.logger.Error("status report failed; the service keeps running and reports again every report_interval (logged once until it recovers)",
			"error", err)
		return
	}
	r.logger.Debug("status report failed again", "failures", n, "error", err)
}

// succeeded logs "recovered" after a run of failures.
func (r *Reporter) succeeded() {
	r.mu.Lock()
	n, since := r.failures, r.failedSince
	r.failures = 0
	r.mu.Unlock()
	if n > 0 {
		r.logger.Info("status report recovered", "failed_reports", n, "failing_for", time.Since(since).Round(time.Millisecond))
	}
}
