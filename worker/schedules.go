package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/workflows"
)

// The status report and the periodic tasks of a topic are Temporal
// Schedules that the topic's services share (docs/schedules.md):
//
//	report:<topic>             every report_interval, workflow <topic>.report_state
//	periodic:<topic>:<task>    every spacing, workflow <topic>.periodic.<task>
//
// Their workflows run on the topic's queue; a report reads which services of
// the topic are alive from their worker heartbeats, and a periodic run runs
// the task on each up host's queue <topic>.<host>, where only that host's
// live service takes it. At start (and on SIGHUP) every service reconciles
// the schedules with its settings; a schedule paused by hand stays paused.

// Notes the service leaves on its schedules. A paused schedule whose note does
// not start with NotePrefix was paused by hand and stays paused; one that
// novaflow paused (before schedules were per topic, a stopped service paused
// its own) is unpaused at start.
const (
	NotePrefix  = "novaflow: "
	StartedNote = NotePrefix + "service started"
)

// scheduleOpTimeout bounds the schedule calls made without a deadline of
// their own.
const scheduleOpTimeout = 30 * time.Second

// registerSchedules registers the workflows and activities of the topic's
// schedules: on the topic's queue, the status report's workflow and local
// activity, each declared periodic task's workflow and the check of their
// runs (workflows.CheckRunName); on the host's queue,
// each task's activity and the report's activity for servers without worker
// heartbeats. Everything is registered whatever the settings: a later SIGHUP
// may turn tasks on. Invalid declarations are skipped here and fail
// reconcileSchedules.
func (s *Service) registerSchedules(w sdkworker.Worker, queue string) {
	reserved := s.reservedMethod() != nil
	switch queue {
	case s.topic:
		if !reserved {
			observer := &activities.Observer{Store: s.store, Client: s.client, Namespace: s.cfg.TemporalNamespace,
				Topic: s.topic, DownTime: s.live.downTime, Logger: s.logger}
			name := workflows.ReportStateName(s.topic)
			w.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
			w.RegisterActivityWithOptions(observer.Report, activity.RegisterOptions{Name: name})
		}
		w.RegisterActivityWithOptions(s.checkRun, activity.RegisterOptions{Name: workflows.CheckRunName})
	case s.HostQueue():
		if !reserved {
			w.RegisterActivityWithOptions(activities.AliveFunc(s.binary, s.host), activity.RegisterOptions{Name: workflows.ReportAliveName(s.topic)})
		}
	default:
		return
	}
	seen := map[string]bool{}
	for _, t := range s.mgr.PeriodicTasks() {
		if !taskName.MatchString(t.Name) || seen[t.Name] || t.Run == nil {
			continue
		}
		seen[t.Name] = true
		name := workflows.PeriodicName(s.topic, t.Name)
		if queue == s.topic {
			w.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
		} else {
			w.RegisterActivityWithOptions(activities.Periodic(t, s.logger.With("task", t.Name), s.live.periodicGate(t), s.live.fuzzyDelay),
				activity.RegisterOptions{Name: name})
		}
	}
}

// errReservedMethod is returned when a manager declares an RPC method whose
// name the status report uses.
var errReservedMethod = errors.New("the name is reserved for the status report")

// reservedMethod fails when the manager declares an RPC method whose name the
// status report uses.
func (s *Service) reservedMethod() error {
	for _, m := range s.mgr.RPCMethods() {
		if activities.Name(s.topic, m.Name) == workflows.ReportStateName(s.topic) ||
			activities.Name(s.topic, m.Name) == workflows.ReportAliveName(s.topic) {
			return fmt.Errorf("manager %s declares RPC method %s: %w", s.def.Name, m.Name, errReservedMethod)
		}
	}
	return nil
}

// reconcileSchedules makes the topic's schedules what this service's settings
// and its manager declare (planSchedules): it creates the missing ones (an
// existing ID is updated instead), updates those whose interval or action
// changed, unpauses those that novaflow paused, and deletes the periodic
// schedules of tasks that are disabled or that no declared task owns, and
// this service's own schedules of the per-service design before it. It is
// idempotent. At service start it also runs the run_immediately tasks on
// this host, after a random part of the fuzzy delay. A schedule paused by
// hand is left paused.
//
// The caller holds s.mu.
func (s *Service) reconcileSchedules(ctx context.Context) error {
	if err := s.reservedMethod(); err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	plan, err := planSchedules(s.cfg, s.topic, s.mgr.PeriodicTasks())
	if err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	starting := s.state == created
	var errs []error
	for _, sp := range plan.want {
		if err := s.ensureSchedule(ctx, sp); err != nil {
			errs = append(errs, err)
		}
	}
	drop := append([]string{legacyReportID(s.binary, s.host)}, plan.drop...)
	ids, err := listScheduleIDs(ctx, s.client, periodicPrefix(s.topic))
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		rest := strings.TrimPrefix(id, periodicPrefix(s.topic))
		if strings.HasPrefix(id, legacyPeriodicPrefix(s.topic, s.host)) || (!strings.Contains(rest, ":") && !plan.tasks[rest]) {
			drop = append(drop, id)
		}
	}
	for _, id := range drop {
		deleted, err := deleteSchedule(ctx, s.client, id, false)
		if err != nil {
			errs = append(errs, err)
		} else if deleted {
			s.logger.Info("schedule deleted: no declared and enabled task, or this service's schedule before schedules were per topic", "schedule", id)
		}
	}
	if starting {
		for _, sp := range plan.want {
			if sp.task != nil && sp.task.RunImmediately && s.live.periodicGate(*sp.task)() == "" {
				if err := s.runNow(ctx, sp, rand.N(s.cfg.PeriodicFuzzyDelay+1)); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	return nil
}

// runNow starts one run of the periodic task of sp on this host only, after
// delay: oslo.service runs a run_immediately task at the first round of its
// loop, which comes after a random part of periodic_fuzzy_delay. A run of
// this host that is still open is no error.
func (s *Service) runNow(ctx context.Context, sp scheduleSpec, delay time.Duration) error {
	req := sp.arg.(workflows.PeriodicRequest)
	req.Hosts, req.Spread = []string{s.host}, ""
	id := fmt.Sprintf("%s@%s-start", sp.id, s.host)
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             s.topic,
		WorkflowRunTimeout:    sp.timeout,
		StartDelay:            delay,
		TypedSearchAttributes: searchAttributes(s.topic, s.host, sp.method),
	}, sp.workflow, req)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("run periodic task %s at start: %w", sp.method, err)
	}
	s.logger.Debug("periodic task runs at start", "task", sp.method, "after", delay.Round(time.Millisecond), "workflow", id)
	return nil
}

// ensureSchedule creates sp's schedule, or brings the existing one in line
// with it; a schedule whose run should always be going (the report) is
// triggered when it has none.
func (s *Service) ensureSchedule(ctx context.Context, sp scheduleSpec) error {
	// The services of a topic in one process (novaflow dev --fake-hosts)
	// share a client and want the same schedules: once one of them has
	// brought a schedule in line, the others need not ask the server again
	// (Options.OneReconcilePerProcess). A thousand services asking at once
	// made the schedule's own workflow the bottleneck, and starts timed out.
	key := fmt.Sprintf("%p %s", s.client, sp.id)
	want := sp.fingerprint()
	if done, ok := ensured.Load(key); ok && done == want && s.oncePerProcess {
		return nil
	}
	if err := s.ensureScheduleOnServer(ctx, sp); err != nil {
		return err
	}
	ensured.Store(key, want)
	return nil
}

// ensured remembers, per client and schedule ID, the fingerprint of the
// spec a service of this process last brought the schedule in line with.
var ensured sync.Map

// fingerprint is what ensureSchedule compares to skip a schedule another
// service of the process has just ensured.
func (sp scheduleSpec) fingerprint() string {
	return fmt.Sprintf("%s %s %s %s %s %s %s %v %v", sp.id, sp.every, sp.offset, sp.overlap, sp.workflow, sp.queue, sp.timeout, sp.arg, sp.running)
}

// ensureScheduleOnServer is ensureSchedule's work on the server.
func (s *Service) ensureScheduleOnServer(ctx context.Context, sp scheduleSpec) error {
	// A schedule keeps its action's header for every run: no token there
	// (the Enforcer lets the schedule's own runs run without one).
	ctx = auth.WithoutToken(ctx)
	sc := s.client.ScheduleClient()
	_, err := sc.Create(ctx, sp.options())
	if err == nil {
		s.logger.Info("schedule created", "schedule", sp.id, "every", sp.every)
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", sp.id, err)
	}

	h := sc.GetHandle(ctx, sp.id)
	var change, handNote string
	var unpaused, handPaused bool
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		cur := in.Description.Schedule
		change, handNote, unpaused, handPaused = "", "", false, false
		var err error
		if change, err = sp.differs(cur); err != nil {
			return nil, err
		}
		var state client.ScheduleState
		if cur.State != nil {
			state = *cur.State
		}
		switch {
		case state.Paused && strings.HasPrefix(state.Note, NotePrefix):
			state.Paused, state.Note, unpaused = false, StartedNote, true
		case state.Paused:
			handPaused, handNote = true, state.Note
		}
		if change == "" && !unpaused {
			return nil, temporal.ErrSkipScheduleUpdate
		}
		policy := sp.policy()
		if cur.Policy != nil {
			policy.CatchupWindow = cur.Policy.CatchupWindow
		}
		spec := sp.spec()
		attrs := sp.attrs
		return &client.ScheduleUpdate{
			Schedule:              &client.Schedule{Action: sp.action(), Spec: &spec, Policy: policy, State: &state},
			TypedSearchAttributes: &attrs,
		}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", sp.id, err)
	}
	switch {
	case change != "":
		s.logger.Info("schedule updated", "schedule", sp.id, "changed", change, "every", sp.every)
	case !unpaused && !handPaused:
		s.logger.Debug("schedule unchanged", "schedule", sp.id)
	}
	if unpaused {
		s.logger.Info("schedule unpaused", "schedule", sp.id)
	}
	if handPaused {
		msg := "schedule paused by hand: left paused (unpause it with `temporal schedule toggle --unpause`)"
		if sp.method == workflows.ReportStateMethod {
			msg = "status report schedule paused by hand: left paused, so the services of this topic show unknown until it is unpaused"
		}
		s.logger.Warn(msg, "schedule", sp.id, "note", handNote)
		return nil
	}
	if sp.running {
		desc, err := h.Describe(ctx)
		if err != nil {
			return fmt.Errorf("describe schedule %s: %w", sp.id, err)
		}
		if len(desc.Info.RunningWorkflows) == 0 {
			if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
				return fmt.Errorf("trigger schedule %s: %w", sp.id, err)
			}
			s.logger.Info("schedule triggered: it had no run going", "schedule", sp.id)
		}
	}
	return nil
}

// DeleteSchedules deletes the schedules that the service binary of topic on
// host owned before schedules were per topic (its report:<binary>:<host>
// and periodic:<topic>:<host>:* schedules), and terminates the runs they
// started that are still open. The topic's own schedules stay: the topic's
// other services share them. It is what nova's kill and `novaflow service
// delete` do to timers; schedules that do not exist are no error.
func DeleteSchedules(ctx context.Context, c client.Client, topic, binary, host string) error {
	ids, err := listScheduleIDs(ctx, c, legacyPeriodicPrefix(topic, host))
	if err != nil {
		return fmt.Errorf("delete schedules of %s on %s: %w", binary, host, err)
	}
	var errs []error
	for _, id := range append([]string{legacyReportID(binary, host)}, ids...) {
		if _, err := deleteSchedule(ctx, c, id, true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete schedules of %s on %s: %w", binary, host, err)
	}
	return nil
}

// deleteSchedule deletes schedule id, reporting whether it existed; with
// terminate it also terminates the open runs the schedule started.
func deleteSchedule(ctx context.Context, c client.Client, id string, terminate bool) (bool, error) {
	h := c.ScheduleClient().GetHandle(ctx, id)
	var runs []client.ScheduleWorkflowExecution
	var notFound *serviceerror.NotFound
	if terminate {
		desc, err := h.Describe(ctx)
		if errors.As(err, &notFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		runs = desc.Info.RunningWorkflows
	}
	if err := h.Delete(ctx); errors.As(err, &notFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("delete schedule %s: %w", id, err)
	}
	for _, run := range runs {
		err := c.TerminateWorkflow(ctx, run.WorkflowID, "", NotePrefix+"schedule "+id+" deleted")
		if err != nil && !errors.As(err, &notFound) {
			return true, fmt.Errorf("terminate run %s of deleted schedule %s: %w", run.WorkflowID, id, err)
		}
	}
	return true, nil
}

// listScheduleIDs lists the IDs of the schedules whose ID starts with prefix.
func listScheduleIDs(ctx context.Context, c client.Client, prefix string) ([]string, error) {
	entries, err := listSchedules(ctx, c, prefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	return ids, nil
}

// listSchedules lists the schedules whose ID starts with prefix, with a
// visibility query (ScheduleId STARTS_WITH), or, on a server that does not
// take that query, by listing every schedule. Visibility is eventually
// consistent: a schedule created a moment ago may be missing.
func listSchedules(ctx context.Context, c client.Client, prefix string) ([]*client.ScheduleListEntry, error) {
	entries, err := listScheduleQuery(ctx, c, fmt.Sprintf("ScheduleId STARTS_WITH '%s'", prefix), prefix)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		entries, err = listScheduleQuery(ctx, c, "", prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("list schedules %s*: %w", prefix, err)
	}
	return entries, nil
}

func listScheduleQuery(ctx context.Context, c client.Client, query, prefix string) ([]*client.ScheduleListEntry, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{Query: query})
	if err != nil {
		return nil, err
	}
	var out []*client.ScheduleListEntry
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(e.ID, prefix) {
			out = append(out, e)
		}
	}
	return out, nil
}

// TriggeredSchedule is a periodic task's run that TriggerPeriodic started.
type TriggeredSchedule struct {
	// ID is the schedule's ID (every host), or the run's workflow ID (one
	// host).
	ID string
	// Paused says the schedule is paused: the run still happens, once.
	Paused bool
}

// TriggerPeriodic runs the periodic tasks of topic now, as nova's
// Service.periodic_tasks: on every up host of the topic (it triggers the
// tasks' schedules) or on host only (it starts a run for that host), for
// every task or for task only. A host whose previous run of a task is still
// going skips it. It fails when no schedule matches.
func TriggerPeriodic(ctx context.Context, c client.Client, topic, host, task string) ([]TriggeredSchedule, error) {
	entries, err := listSchedules(ctx, c, periodicPrefix(topic))
	if err != nil {
		return nil, fmt.Errorf("run periodic tasks: %w", err)
	}
	var out []TriggeredSchedule
	for _, e := range entries {
		name := strings.TrimPrefix(e.ID, periodicPrefix(topic))
		if strings.Contains(name, ":") || (task != "" && name != task) {
			continue
		}
		if host == "" {
			if err := c.ScheduleClient().GetHandle(ctx, e.ID).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
				return out, fmt.Errorf("run periodic tasks: trigger schedule %s: %w", e.ID, err)
			}
			out = append(out, TriggeredSchedule{ID: e.ID, Paused: e.Paused})
			continue
		}
		id := fmt.Sprintf("%s@%s-%s", e.ID, host, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                    id,
			TaskQueue:             topic,
			WorkflowRunTimeout:    workflows.PeriodicTaskTimeout + time.Minute,
			TypedSearchAttributes: searchAttributes(topic, host, name),
		}, workflows.PeriodicName(topic, name), workflows.PeriodicRequest{Topic: topic, Task: name, Hosts: []string{host}})
		if err != nil {
			return out, fmt.Errorf("run periodic tasks: start %s: %w", id, err)
		}
		out = append(out, TriggeredSchedule{ID: id, Paused: e.Paused})
	}
	if len(out) == 0 {
		what := "topic " + topic
		if task != "" {
			what = "task " + task + " of " + what
		}
		return nil, fmt.Errorf("no periodic schedule for %s (is a service of the topic running, and the task enabled?)", what)
	}
	return out, nil
}
