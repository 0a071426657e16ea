package worker

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// minScheduleInterval is the finest interval a Temporal Schedule takes.
const minScheduleInterval = time.Second

// minReportTimeout is the shortest run timeout of a status report: with a
// report_interval below it, a report still has this long to be written.
const minReportTimeout = 5 * time.Second

// ReportScheduleID is the ID of the status report schedule of the service
// binary on host: report:<binary>:<host>.
func ReportScheduleID(binary, host string) string { return "report:" + binary + ":" + host }

// PeriodicScheduleID is the ID of the schedule of a periodic task of topic on
// host: periodic:<topic>:<host>:<task>.
func PeriodicScheduleID(topic, host, task string) string {
	return periodicPrefix(topic, host) + task
}

// periodicPrefix is the common start of the periodic schedule IDs of topic on
// host (all hosts when host is empty).
func periodicPrefix(topic, host string) string {
	if host == "" {
		return "periodic:" + topic + ":"
	}
	return "periodic:" + topic + ":" + host + ":"
}

// scheduleSpec is one schedule a service wants: what reconciliation creates,
// or updates an existing schedule to.
type scheduleSpec struct {
	id        string
	method    string // report_state or the task's name
	every     time.Duration
	offset    time.Duration
	jitter    time.Duration
	workflow  string
	queue     string
	timeout   time.Duration // workflow run timeout
	arg       any
	immediate bool // trigger at creation and at service start
	attrs     temporal.SearchAttributes
}

// schedulePlan is what a service's schedules should be: want exists (created
// or updated), drop is deleted if it exists, and any other periodic schedule
// of the service's topic and host is stale and deleted.
type schedulePlan struct {
	want []scheduleSpec
	drop []string
}

var taskName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// planSchedules computes the schedules of a service from its settings and its
// manager's periodic tasks:
//   - the status report, every ReportInterval (0: none, and an existing one is
//     dropped), with a fixed phase derived from its ID so that the reports of
//     many services spread over the interval instead of hitting the database
//     at once;
//   - one schedule per periodic task, unless periodic tasks are off, the task
//     is disabled, or it is external_process_ok and this service does not run
//     external tasks (then it is dropped). Interval = the task's spacing capped
//     by PeriodicIntervalMax; jitter = PeriodicFuzzyDelay, at most half the
//     interval so that runs keep roughly their spacing; phase from the ID.
func planSchedules(cfg Config, topic, binary, host string, tasks []managers.PeriodicTask) (schedulePlan, error) {
	var p schedulePlan
	queue := HostQueue(topic, host)
	reportID := ReportScheduleID(binary, host)
	switch {
	case cfg.ReportInterval == 0:
		p.drop = append(p.drop, reportID)
	case cfg.ReportInterval < minScheduleInterval:
		return p, &ConfigError{Setting: EnvPrefix + "_REPORT_INTERVAL",
			Err: fmt.Errorf("%s is below the %s resolution of Temporal Schedules", cfg.ReportInterval, minScheduleInterval)}
	default:
		p.want = append(p.want, scheduleSpec{
			id:        reportID,
			method:    activities.ReportStateMethod,
			every:     cfg.ReportInterval,
			offset:    phase(reportID, cfg.ReportInterval),
			workflow:  activities.ReportStateName(topic),
			queue:     queue,
			timeout:   max(cfg.ReportInterval, minReportTimeout),
			arg:       activities.ReportRequest{Host: host, Binary: binary, Topic: topic},
			immediate: true,
			attrs:     searchAttributes(topic, host, activities.ReportStateMethod),
		})
	}

	seen := map[string]bool{}
	for _, t := range tasks {
		if !taskName.MatchString(t.Name) {
			return p, fmt.Errorf("periodic task %q: name is not snake_case", t.Name)
		}
		if seen[t.Name] {
			return p, fmt.Errorf("periodic task %q is declared twice", t.Name)
		}
		seen[t.Name] = true
		if t.Run == nil {
			return p, fmt.Errorf("periodic task %q has a nil Run", t.Name)
		}
		id := PeriodicScheduleID(topic, host, t.Name)
		if !cfg.PeriodicEnable || t.Disabled || (t.ExternalProcessOK && !cfg.RunExternalPeriodicTasks) {
			p.drop = append(p.drop, id)
			continue
		}
		every := t.Interval(cfg.PeriodicIntervalMax)
		if every < minScheduleInterval {
			return p, fmt.Errorf("periodic task %q: interval %s is below the %s resolution of Temporal Schedules", t.Name, every, minScheduleInterval)
		}
		p.want = append(p.want, scheduleSpec{
			id:        id,
			method:    t.Name,
			every:     every,
			offset:    phase(id, every),
			jitter:    min(cfg.PeriodicFuzzyDelay, every/2),
			workflow:  activities.PeriodicName(topic, t.Name),
			queue:     queue,
			timeout:   every + workflows.PeriodicTaskTimeout,
			arg:       activities.PeriodicRequest{Topic: topic, Host: host, Task: t.Name},
			immediate: t.RunImmediately,
			attrs:     searchAttributes(topic, host, t.Name),
		})
	}
	return p, nil
}

// phase is a fixed offset in [0, every) derived from id, in whole
// milliseconds: the same service always runs at the same point of the
// interval, and different services at different points.
func phase(id string, every time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	ms := every.Milliseconds()
	if ms <= 0 {
		return 0
	}
	return time.Duration(h.Sum64()%uint64(ms)) * time.Millisecond
}

func searchAttributes(topic, host, method string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.TopicKey.ValueSet(topic),
		workflows.HostKey.ValueSet(host),
		workflows.MethodKey.ValueSet(method),
	)
}

// spec is the schedule's spec.
func (s scheduleSpec) spec() client.ScheduleSpec {
	return client.ScheduleSpec{
		Intervals: []client.ScheduleIntervalSpec{{Every: s.every, Offset: s.offset}},
		Jitter:    s.jitter,
	}
}

// action is the schedule's action: start the workflow on the host queue,
// tagged with the service's topic and host and the method, so that the Web UI
// and `temporal workflow list --query` find its runs.
func (s scheduleSpec) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:                    s.id,
		Workflow:              s.workflow,
		Args:                  []any{s.arg},
		TaskQueue:             s.queue,
		WorkflowRunTimeout:    s.timeout,
		TypedSearchAttributes: s.attrs,
	}
}

func (s scheduleSpec) policy() *client.SchedulePolicies {
	return &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}
}

// options are the options that create the schedule, unpaused.
func (s scheduleSpec) options() client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:                    s.id,
		Spec:                  s.spec(),
		Action:                s.action(),
		Overlap:               enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately:    s.immediate,
		TypedSearchAttributes: s.attrs,
	}
}

// differs says what in the existing schedule cur differs from s, or "" when
// nothing that s sets does.
func (s scheduleSpec) differs(cur client.Schedule) (string, error) {
	if cur.Spec == nil || len(cur.Spec.Intervals) != 1 || len(cur.Spec.Calendars) > 0 || len(cur.Spec.CronExpressions) > 0 ||
		len(cur.Spec.Skip) > 0 || !cur.Spec.StartAt.IsZero() || !cur.Spec.EndAt.IsZero() {
		return "spec", nil
	}
	if iv := cur.Spec.Intervals[0]; iv.Every != s.every || iv.Offset != s.offset {
		return "interval", nil
	}
	if cur.Spec.Jitter != s.jitter {
		return "jitter", nil
	}
	if cur.Policy == nil || cur.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || cur.Policy.PauseOnFailure {
		return "policy", nil
	}
	a, ok := cur.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return "action", nil
	}
	if wf, _ := a.Workflow.(string); wf != s.workflow {
		return "workflow type", nil
	}
	if a.ID != s.id || a.TaskQueue != s.queue || a.WorkflowRunTimeout != s.timeout || a.WorkflowExecutionTimeout != 0 {
		return "workflow options", nil
	}
	same, err := sameArgs(a.Args, s.arg)
	if err != nil {
		return "", err
	}
	if !same {
		return "input", nil
	}
	if !sameAttributes(a.TypedSearchAttributes, s.attrs) {
		return "search attributes", nil
	}
	return "", nil
}

// sameArgs says whether the encoded arguments of an existing schedule equal
// the one argument want.
func sameArgs(cur []any, want any) (bool, error) {
	if len(cur) != 1 {
		return false, nil
	}
	got, ok := cur[0].(interface{ GetData() []byte })
	if !ok {
		return false, nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(want)
	if err != nil {
		return false, fmt.Errorf("encode schedule input: %w", err)
	}
	return bytes.Equal(bytes.TrimSpace(got.GetData()), bytes.TrimSpace(p.GetData())), nil
}

func sameAttributes(a, b temporal.SearchAttributes) bool {
	av, bv := attrMap(a), attrMap(b)
	if len(av) != len(bv) {
		return false
	}
	for k, v := range av {
		if w, ok := bv[k]; !ok || fmt.Sprint(w) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

func attrMap(sa temporal.SearchAttributes) map[string]any {
	out := map[string]any{}
	for k, v := range sa.GetUntypedValues() {
		out[k.GetName()] = v
	}
	return out
}
