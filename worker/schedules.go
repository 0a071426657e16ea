package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/workflows"
)

// A service's status report and periodic tasks are Temporal Schedules that it
// owns (docs/schedules.md):
//
//	report:<binary>:<host>             every report_interval, workflow <topic>.report_state
//	periodic:<topic>:<host>:<task>     every spacing, workflow <topic>.periodic.<task>
//
// Their workflows and activities are registered on the host queue
// <topic>.<host> only, so only the live service runs them. At start (and on
// SIGHUP) the service reconciles the schedules with its settings; on a
// graceful stop it pauses them with StoppedNote, and at the next start
// unpauses those, but never one that someone paused with another note.

// Notes the service leaves on its schedules. A paused schedule whose note does
// not start with NotePrefix was paused by hand and stays paused.
const (
	NotePrefix  = "novaflow: "
	StoppedNote = NotePrefix + "service stopped"
	StartedNote = NotePrefix + "service started"
)

// scheduleOpTimeout bounds the schedule calls of a graceful stop, which runs
// without a deadline of its own.
const scheduleOpTimeout = 30 * time.Second

// registerSchedules registers, on the host queue's worker, the status report
// workflow and local activity and each declared periodic task's workflow and
// activity, whatever the settings: a later SIGHUP may turn tasks on. Invalid
// declarations are skipped here and fail reconcileSchedules.
func (s *Service) registerSchedules(w sdkworker.Worker, queue string) {
	if queue != s.HostQueue() {
		return
	}
	if s.reservedMethod() == nil {
		reporter := activities.NewReporter(s.store, s.host, s.binary, s.topic, s.def.Version, s.logger)
		name := activities.ReportStateName(s.topic)
		w.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
		w.RegisterActivityWithOptions(reporter.Report, activity.RegisterOptions{Name: name})
	}
	seen := map[string]bool{}
	for _, t := range s.mgr.PeriodicTasks() {
		if !taskName.MatchString(t.Name) || seen[t.Name] || t.Run == nil {
			continue
		}
		seen[t.Name] = true
		name := activities.PeriodicName(s.topic, t.Name)
		w.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
		w.RegisterActivityWithOptions(activities.Periodic(t, s.logger.With("task", t.Name)), activity.RegisterOptions{Name: name})
	}
}

// errReservedMethod is returned when a manager declares an RPC method whose
// name the status report uses.
var errReservedMethod = errors.New("the name is reserved for the status report")

// reservedMethod fails when the manager declares an RPC method whose name the
// status report uses.
func (s *Service) reservedMethod() error {
	for _, m := range s.mgr.RPCMethods() {
		if m.Name == activities.ReportStateMethod {
			return fmt.Errorf("manager %s declares RPC method %s: %w", s.def.Name, m.Name, errReservedMethod)
		}
	}
	return nil
}

// reconcileSchedules makes the service's schedules what its settings and its
// manager declare (planSchedules): it creates the missing ones (an existing ID
// is updated instead), updates those whose interval, jitter or action
// changed, unpauses those it paused itself when it stopped, deletes those the
// settings turn off and the periodic schedules of its topic and host that no
// declared task owns. It is idempotent. At service start it also triggers the
// status report (the service is up at once, not one interval later) and the
// run_immediately tasks. A schedule paused by hand is left paused.
//
// The caller holds s.mu.
func (s *Service) reconcileSchedules(ctx context.Context) error {
	if err := s.reservedMethod(); err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	plan, err := planSchedules(s.cfg, s.topic, s.binary, s.host, s.mgr.PeriodicTasks())
	if err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	starting := s.state == created
	var errs []error
	keep := map[string]bool{}
	for _, sp := range plan.want {
		keep[sp.id] = true
		if err := s.ensureSchedule(ctx, sp, starting); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range plan.drop {
		keep[id] = true // handled here, not as stale
		deleted, err := deleteSchedule(ctx, s.client, id, false)
		if err != nil {
			errs = append(errs, err)
		} else if deleted {
			s.logger.Info("schedule deleted: turned off by the settings", "schedule", id)
		}
	}
	ids, err := listScheduleIDs(ctx, s.client, periodicPrefix(s.topic, s.host))
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if keep[id] {
			continue
		}
		deleted, err := deleteSchedule(ctx, s.client, id, false)
		if err != nil {
			errs = append(errs, err)
		} else if deleted {
			s.logger.Info("schedule deleted: no periodic task of this service owns it", "schedule", id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reconcile schedules: %w", err)
	}
	return nil
}

// ensureSchedule creates sp's schedule, or brings the existing one in line
// with it, and at start triggers it when sp asks for an immediate run.
func (s *Service) ensureSchedule(ctx context.Context, sp scheduleSpec, starting bool) error {
	sc := s.client.ScheduleClient()
	_, err := sc.Create(ctx, sp.options())
	if err == nil {
		s.logger.Info("schedule created", "schedule", sp.id, "every", sp.every, "jitter", sp.jitter, "triggered", sp.immediate)
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
		s.logger.Info("schedule updated", "schedule", sp.id, "changed", change, "every", sp.every, "jitter", sp.jitter)
	case !unpaused && !handPaused:
		s.logger.Debug("schedule unchanged", "schedule", sp.id)
	}
	if unpaused {
		s.logger.Info("schedule unpaused", "schedule", sp.id)
	}
	if handPaused {
		msg := "schedule paused by hand: left paused (unpause it with `temporal schedule toggle --unpause`)"
		if sp.method == activities.ReportStateMethod {
			msg = "status report schedule paused by hand: left paused, so this service will show down until it is unpaused"
		}
		s.logger.Warn(msg, "schedule", sp.id, "note", handNote)
		return nil
	}
	if starting && sp.immediate {
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			return fmt.Errorf("trigger schedule %s: %w", sp.id, err)
		}
	}
	return nil
}

// pauseSchedules pauses the service's schedules with note (prefixed with
// NotePrefix) on a graceful stop, so that a stopped service's schedules start
// no runs. Schedules that are already paused keep their note: one paused by
// hand must stay paused when the service starts again.
//
// The caller holds s.mu.
func (s *Service) pauseSchedules(ctx context.Context, note string) error {
	if s.client == nil || s.mgr == nil {
		return nil
	}
	if !strings.HasPrefix(note, NotePrefix) {
		note = NotePrefix + note
	}
	ctx, cancel := context.WithTimeout(ctx, scheduleOpTimeout)
	defer cancel()
	plan, err := planSchedules(s.cfg, s.topic, s.binary, s.host, s.mgr.PeriodicTasks())
	if err != nil {
		return fmt.Errorf("pause schedules: %w", err)
	}
	var errs []error
	paused := 0
	for _, sp := range plan.want {
		did, err := pauseSchedule(ctx, s.client, sp.id, note)
		if err != nil {
			errs = append(errs, err)
		} else if did {
			paused++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pause schedules: %w", err)
	}
	s.logger.Info("schedules paused", "paused", paused, "note", note)
	return nil
}

// pauseSchedule pauses schedule id with note unless it is paused already or
// gone; it reports whether it paused it. The pause is conditional on the
// schedule not having changed since it was read.
func pauseSchedule(ctx context.Context, c client.Client, id, note string) (bool, error) {
	did := false
	err := c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			cur := in.Description.Schedule
			if cur.State != nil && cur.State.Paused {
				did = false
				return nil, temporal.ErrSkipScheduleUpdate
			}
			state := client.ScheduleState{}
			if cur.State != nil {
				state = *cur.State
			}
			state.Paused, state.Note, did = true, note, true
			cur.State = &state
			return &client.ScheduleUpdate{Schedule: &cur}, nil
		},
	})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pause schedule %s: %w", id, err)
	}
	return did, nil
}

// DeleteSchedules deletes the schedules of the service binary of topic on
// host (its status report and all its periodic tasks) and terminates the runs
// they started that are still open: with the service gone, nothing would
// take them. It is what nova's kill and `novaflow service delete` do to
// timers; schedules that do not exist are no error.
func DeleteSchedules(ctx context.Context, c client.Client, topic, binary, host string) error {
	ids, err := listScheduleIDs(ctx, c, periodicPrefix(topic, host))
	if err != nil {
		return fmt.Errorf("delete schedules of %s on %s: %w", binary, host, err)
	}
	var errs []error
	for _, id := range append([]string{ReportScheduleID(binary, host)}, ids...) {
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

// TriggeredSchedule is a periodic schedule TriggerPeriodic triggered.
type TriggeredSchedule struct {
	ID string
	// Paused says the schedule is paused: the run still happens, once.
	Paused bool
}

// TriggerPeriodic runs the periodic tasks of topic now, as nova's
// Service.periodic_tasks: it triggers the schedules of every host of the topic,
// or of host only, and of every task or of task only. A task that is running
// runs again once it finishes (overlap policy buffer one). It fails when no
// schedule matches.
func TriggerPeriodic(ctx context.Context, c client.Client, topic, host, task string) ([]TriggeredSchedule, error) {
	entries, err := listSchedules(ctx, c, periodicPrefix(topic, host))
	if err != nil {
		return nil, fmt.Errorf("run periodic tasks: %w", err)
	}
	var out []TriggeredSchedule
	for _, e := range entries {
		if task != "" && e.ID[strings.LastIndexByte(e.ID, ':')+1:] != task {
			continue
		}
		err = c.ScheduleClient().GetHandle(ctx, e.ID).Trigger(ctx, client.ScheduleTriggerOptions{
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
		})
		if err != nil {
			return out, fmt.Errorf("run periodic tasks: trigger schedule %s: %w", e.ID, err)
		}
		out = append(out, TriggeredSchedule{ID: e.ID, Paused: e.Paused})
	}
	if len(out) == 0 {
		what := "topic " + topic
		if host != "" {
			what += " on host " + host
		}
		if task != "" {
			what = "task " + task + " of " + what
		}
		return nil, fmt.Errorf("no periodic schedule for %s (is the service running, and the task enabled?)", what)
	}
	return out, nil
}
