package worker

import (
	"bytes"
	"fmt"
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

// ReportRunLength is how long one run of a topic's status report reports
// (every report_interval) before the schedule starts the next: the Web UI
// shows one report run per topic per ReportRunLength.
const ReportRunLength = 10 * time.Minute

// ReportScheduleID is the ID of the status report schedule of topic:
// report:<topic>.
func ReportScheduleID(topic string) string { return "report:" + topic }

// PeriodicScheduleID is the ID of the schedule of a periodic task of topic:
// periodic:<topic>:<task>.
func PeriodicScheduleID(topic, task string) string { return periodicPrefix(topic) + task }

// periodicPrefix is the common start of the periodic schedule IDs of topic.
func periodicPrefix(topic string) string { return "periodic:" + topic + ":" }

// legacyReportID and legacyPeriodicPrefix name the schedules of one service
// that novaflow made before liveness was observed per topic
// (report:<binary>:<host>, periodic:<topic>:<host>:<task>). A service
// deletes its own at start; `novaflow service delete` deletes them too.
func legacyReportID(binary, host string) string { return "report:" + binary + ":" + host }

func legacyPeriodicPrefix(topic, host string) string { return periodicPrefix(topic) + host + ":" }

// scheduleSpec is one schedule a service wants: what reconciliation creates,
// or updates an existing schedule to.
type scheduleSpec struct {
	id       string
	method   string // report_state or the task's name
	every    time.Duration
	offset   time.Duration
	overlap  enumspb.ScheduleOverlapPolicy
	workflow string
	queue    string
	timeout  time.Duration // workflow run timeout
	arg      any
	attrs    temporal.SearchAttributes
	task     *managers.PeriodicTask // the periodic task, nil for the report
	// running says a run should be running at all times: the schedule is
	// triggered at creation, and at a service's start when it has no run.
	running bool
}

// schedulePlan is what the schedules of a service's topic should be: want
// exists (created or updated), drop is deleted if it exists, and any other
// periodic schedule of the topic that no declared task owns is stale and
// deleted.
type schedulePlan struct {
	want []scheduleSpec
	drop []string
	// tasks are the names of the declared tasks, wanted or not.
	tasks map[string]bool
}

var taskName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// planSchedules computes the schedules of a service's topic from its settings
// and its manager's periodic tasks. They are the topic's, not the service's:
// every service of the topic plans the same ones, and the last to start (or
// to be reset) sets their intervals.
//   - The status report, on the topic's queue: a run every ReportRunLength
//     that reports every ReportInterval, overlap buffer-one so that the next
//     run starts as soon as one ends, and triggered when no run is going. A
//     service with ReportInterval 0 leaves it as it is.
//   - One schedule per periodic task, every Spacing (0: 60 s), on the topic's
//     queue, overlap allow-all: each host skips a run while its previous one
//     still runs, so a slow host delays only itself. A task that is Disabled
//     or has a negative Spacing is dropped. periodic_interval_max never
//     shortens a spacing (in oslo.service it only caps how long the loop
//     sleeps). A service with periodic tasks off leaves them as they are;
//     its own host skips them (activities.Periodic's gate). Each host waits
//     a fixed part of min(PeriodicFuzzyDelay, interval / 2) before it runs
//     the task, so the hosts of a topic do not all run it at once.
func planSchedules(cfg Config, topic string, tasks []managers.PeriodicTask) (schedulePlan, error) {
	p := schedulePlan{tasks: map[string]bool{}}
	reportID := ReportScheduleID(topic)
	switch {
	case cfg.ReportInterval == 0:
	case cfg.ReportInterval < minScheduleInterval:
		return p, &ConfigError{Setting: EnvPrefix + "_REPORT_INTERVAL",
			Err: fmt.Errorf("%s is below the %s resolution of Temporal Schedules", cfg.ReportInterval, minScheduleInterval)}
	default:
		length := max(ReportRunLength, cfg.ReportInterval)
		p.want = append(p.want, scheduleSpec{
			id:       reportID,
			method:   workflows.ReportStateMethod,
			every:    length,
			offset:   phase(reportID, length),
			overlap:  enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
			workflow: workflows.ReportStateName(topic),
			queue:    topic,
			timeout:  length + 2*max(cfg.ReportInterval, minReportTimeout),
			arg:      workflows.ReportRequest{Topic: topic, Every: cfg.ReportInterval.String(), For: length.String(), Check: true},
			attrs:    searchAttributes(topic, "", workflows.ReportStateMethod),
			running:  true,
		})
	}

	for i, t := range tasks {
		if !taskName.MatchString(t.Name) {
			return p, fmt.Errorf("periodic task %q: name is not snake_case", t.Name)
		}
		if p.tasks[t.Name] {
			return p, fmt.Errorf("periodic task %q is declared twice", t.Name)
		}
		p.tasks[t.Name] = true
		if t.Run == nil {
			return p, fmt.Errorf("periodic task %q has a nil Run", t.Name)
		}
		id := PeriodicScheduleID(topic, t.Name)
		if t.Disabled || t.Spacing < 0 {
			p.drop = append(p.drop, id)
			continue
		}
		if !cfg.PeriodicEnable {
			continue
		}
		every := t.Interval(0)
		if every < minScheduleInterval {
			return p, fmt.Errorf("periodic task %q: interval %s is below the %s resolution of Temporal Schedules", t.Name, every, minScheduleInterval)
		}
		p.want = append(p.want, scheduleSpec{
			id:       id,
			method:   t.Name,
			every:    every,
			offset:   phase(id, every),
			overlap:  enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
			workflow: workflows.PeriodicName(topic, t.Name),
			queue:    topic,
			timeout:  workflows.PeriodicTaskTimeout + every,
			arg:      workflows.PeriodicRequest{Topic: topic, Task: t.Name, Spread: spread(cfg, every).String(), Check: true},
			attrs:    searchAttributes(topic, "", t.Name),
			task:     &tasks[i],
		})
	}
	return p, nil
}

// spread is how far the hosts' runs of a task every interval are spread:
// min(PeriodicFuzzyDelay, interval / 2).
func spread(cfg Config, every time.Duration) time.Duration {
	return min(cfg.PeriodicFuzzyDelay, every/2)
}

// phase is a fixed offset in [0, every) derived from id: the same schedule
// always runs at the same point of its interval, and different schedules at
// different points.
func phase(id string, every time.Duration) time.Duration { return activities.Phase(id, every) }

// searchAttributes tags a schedule and its runs with the topic, the method
// (report_state or the task's name) and, for a run of one host, the host.
func searchAttributes(topic, host, method string) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{workflows.TopicKey.ValueSet(topic), workflows.MethodKey.ValueSet(method)}
	if host != "" {
		updates = append(updates, workflows.HostKey.ValueSet(host))
	}
	return temporal.NewSearchAttributes(updates...)
}

// spec is the schedule's spec.
func (s scheduleSpec) spec() client.ScheduleSpec {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.every, Offset: s.offset}}}
}

// action is the schedule's action: start the workflow on the topic's queue,
// tagged with the topic and the method, so that the Web UI and `temporal
// workflow list --query` find its runs.
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
	return &client.SchedulePolicies{Overlap: s.overlap}
}

// options are the options that create the schedule, unpaused.
func (s scheduleSpec) options() client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:                    s.id,
		Spec:                  s.spec(),
		Action:                s.action(),
		Overlap:               s.overlap,
		TriggerImmediately:    s.running,
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
	if cur.Spec.Jitter != 0 {
		return "jitter", nil
	}
	if cur.Policy == nil || cur.Policy.Overlap != s.overlap || cur.Policy.PauseOnFailure {
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
