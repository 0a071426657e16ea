package servicegroup

import (
	"errors"
	"fmt"
	"time"
)

// Record is one row of the services table.
type Record struct {
	ID             int64      `json:"id"`
	UUID           string     `json:"uuid"`
	Host           string     `json:"host"`
	Binary         string     `json:"binary"`
	Topic          string     `json:"topic"`
	ReportCount    int64      `json:"report_count"`
	Disabled       bool       `json:"disabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	ForcedDown     bool       `json:"forced_down"`
	LastSeenUp     *time.Time `json:"last_seen_up"`
	Version        int        `json:"version"`
	// BuildID is the build the service runs, as its last start registered it
	// (NOVAFLOW_BUILD_ID, or the VCS revision of its binary): "" when it has
	// none, or when the row was written by a release older than the column,
	// which leaves it as it was.
	BuildID   string     `json:"build_id"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	Deleted   bool       `json:"deleted"`
	// HeartbeatAt is the last worker heartbeat of the service that a status
	// report counted, on the service's host's clock (nil: none yet, or
	// liveness read from pollers).
	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	// Observer is the state of the status report of the service's topic (nil
	// when it has never run), which Status judges the row with.
	Observer *Observer `json:"observer,omitempty"`
}

// ErrNotFound means no live service row matches.
var ErrNotFound = errors.New("service not found")

// ErrSeen means a service was seen up since it was read (Store.DeleteUnseen).
var ErrSeen = errors.New("service was seen up since it was listed")

// TooOldError is returned when the code's service version is older than the
// minimum version of the other live services of the same binary (nova's
// ServiceTooOld): starting it would break callers that already send newer calls.
type TooOldError struct {
	Binary     string
	Version    int
	MinVersion int
}

func (e *TooOldError) Error() string {
	return fmt.Sprintf("service %s at version %d is too old: the live %s services, this one's own row included, are at version %d or newer; "+
		"to roll back on purpose, force the newer services down first (novaflow service force-down), then clear it (--unset) once they run the older code",
		e.Binary, e.Version, e.Binary, e.MinVersion)
}

// DefaultServiceDownTime is how long a service may go without a report before
// it counts as down. nova uses 60 s; novaflow 25 s, which with the default
// 10 s report interval shows a killed service down within 25 s while a report
// may still be missed twice (a slow database) without a false "down". It is
// the default of NOVAFLOW_SERVICE_DOWN_TIME (worker.DefaultConfig takes it).
const DefaultServiceDownTime = 25 * time.Second

// DownTime is nova's effective service_down_time: the configured value, raised
// to 2.5 x reportInterval when it is lower, so that one late report never
// marks a service down.
func DownTime(serviceDownTime, reportInterval time.Duration) time.Duration {
	if floor := reportInterval * 5 / 2; serviceDownTime < floor {
		return floor
	}
	return serviceDownTime
}

// IsUp is nova's is_up, judged on what the topic's status report last saw
// (Status): a service is up unless Status says it is down. A service whose
// state is unknown (the control plane cannot see its topic's services, or has
// not looked again since it could not) counts as up: it was up when last seen,
// and nothing says it died, so the scheduler keeps placing work on it.
func IsUp(r Record, now time.Time, downTime time.Duration) bool {
	return Status(r, now, downTime) != Down
}
