package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/novaflow/novaflow/workflows"
)

// SetupCommand is the command that prepares a namespace for novaflow; the
// errors of a service that finds its namespace unprepared name it.
const SetupCommand = "novaflow temporal setup"

// DefaultRetention is the retention SetupTemporal gives a namespace it
// creates: how long closed workflows (every RPC call, build and periodic
// run) stay visible, and how long a request ID is remembered.
const DefaultRetention = 7 * 24 * time.Hour

// minRetention is the retention below which SetupTemporal warns.
const minRetention = 24 * time.Hour

// Results of a SetupCheck.
const (
	SetupOK      = "ok"      // present as novaflow needs it
	SetupCreated = "created" // was missing, created now
	SetupUpdated = "updated" // was different, changed now
	SetupMissing = "missing" // missing and not created (CheckOnly, or cannot be): services refuse to start
	SetupWarning = "warning" // a server setting or value that degrades novaflow; services still run
	SetupFailed  = "failed"  // the check itself failed
)

// SetupCheck is one thing SetupTemporal checked.
type SetupCheck struct {
	// Name is what was checked: "namespace", "search attribute
	// NovaflowTopic", "frontend.WorkerHeartbeatsEnabled"...
	Name string `json:"name"`
	// Result is one of SetupOK, SetupCreated, SetupUpdated, SetupMissing,
	// SetupWarning, SetupFailed.
	Result string `json:"result"`
	// Detail says what was found or done.
	Detail string `json:"detail"`
	// Cost says what its absence costs, when it is not ok.
	Cost string `json:"cost,omitempty"`
}

// Problem reports whether the check leaves novaflow unable to run
// (SetupMissing, SetupFailed).
func (c SetupCheck) Problem() bool { return c.Result == SetupMissing || c.Result == SetupFailed }

// TemporalSetupOptions configures SetupTemporal.
type TemporalSetupOptions struct {
	// Namespace is the namespace to create or check (required).
	Namespace string
	// Retention is the retention of a namespace SetupTemporal creates; 0
	// means DefaultRetention.
	Retention time.Duration
	// SetRetention also sets Retention on an existing namespace whose
	// retention differs.
	SetRetention bool
	// SearchAttributes are the search attributes to register; empty means
	// novaflow's (workflows.SearchAttributes).
	SearchAttributes temporal.SearchAttributes
	// CheckOnly reports what is missing and changes nothing.
	CheckOnly bool
	// Wait bounds the wait for a namespace just created to serve; 0 means
	// one minute.
	Wait time.Duration
	// Progress, when set, is called with each check as it completes.
	Progress func(SetupCheck)
}

// TemporalSetup is what SetupTemporal found and did.
type TemporalSetup struct {
	Namespace string       `json:"namespace"`
	Checks    []SetupCheck `json:"checks"`
}

// Problems are the checks that leave novaflow unable to run.
func (s TemporalSetup) Problems() []SetupCheck {
	var out []SetupCheck
	for _, c := range s.Checks {
		if c.Problem() {
			out = append(out, c)
		}
	}
	return out
}

// Warnings are the checks of settings that degrade novaflow.
func (s TemporalSetup) Warnings() []SetupCheck {
	var out []SetupCheck
	for _, c := range s.Checks {
		if c.Result == SetupWarning {
			out = append(out, c)
		}
	}
	return out
}

// SetupTemporal prepares a namespace of the server c talks to for novaflow,
// and says what it found: it creates the namespace when it is missing (with
// opts.Retention), registers the search attributes it lacks, and checks the
// server settings novaflow relies on (worker heartbeats and ListWorkers,
// schedules, the namespace's retention). Run again, it changes nothing. An
// error is returned only when the server cannot be asked at all; what is
// missing is in the checks (TemporalSetup.Problems).
func SetupTemporal(ctx context.Context, c client.Client, opts TemporalSetupOptions) (TemporalSetup, error) {
	if opts.Namespace == "" {
		return TemporalSetup{}, errors.New("temporal setup: no namespace")
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.SearchAttributes.Size() == 0 {
		opts.SearchAttributes = workflows.SearchAttributes()
	}
	if opts.Wait == 0 {
		opts.Wait = time.Minute
	}
	out := TemporalSetup{Namespace: opts.Namespace}
	add := func(check SetupCheck) {
		out.Checks = append(out.Checks, check)
		if opts.Progress != nil {
			opts.Progress(check)
		}
	}

	// The namespace, and its retention.
	desc, err := describeNamespace(ctx, c, opts.Namespace)
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound) && opts.CheckOnly:
		add(SetupCheck{Name: "namespace", Result: SetupMissing, Detail: fmt.Sprintf("namespace %s does not exist", opts.Namespace),
			Cost: "no service starts"})
		return out, nil
	case errors.As(err, &notFound):
		_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        opts.Namespace,
			Description:                      "novaflow",
			WorkflowExecutionRetentionPeriod: durationpb.New(opts.Retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			add(SetupCheck{Name: "namespace", Result: SetupFailed, Detail: fmt.Sprintf("creating namespace %s: %v", opts.Namespace, err),
				Cost: "no service starts"})
			return out, nil
		}
		if desc, err = waitNamespace(ctx, c, opts.Namespace, opts.Wait); err != nil {
			add(SetupCheck{Name: "namespace", Result: SetupFailed, Detail: fmt.Sprintf("namespace %s created, but it does not serve: %v", opts.Namespace, err),
				Cost: "no service starts"})
			return out, nil
		}
		add(SetupCheck{Name: "namespace", Result: SetupCreated, Detail: fmt.Sprintf("namespace %s, retention %s", opts.Namespace, formatRetention(opts.Retention))})
	case err != nil:
		return out, fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	default:
		add(SetupCheck{Name: "namespace", Result: SetupOK, Detail: fmt.Sprintf("namespace %s exists", opts.Namespace)})
	}
	add(checkRetention(ctx, c, desc, opts))

	// The search attributes.
	for _, check := range setupSearchAttributes(ctx, c, opts) {
		add(check)
	}

	// The server settings.
	if desc.GetNamespaceInfo().GetCapabilities().GetWorkerHeartbeats() {
		add(SetupCheck{Name: "frontend.WorkerHeartbeatsEnabled", Result: SetupOK, Detail: "worker heartbeats are on"})
	} else {
		add(SetupCheck{Name: "frontend.WorkerHeartbeatsEnabled", Result: SetupWarning,
			Detail: "off (dynamic config, default false on Temporal 1.29): the server keeps no worker heartbeats",
			Cost:   "each status report asks every host with an activity instead of reading heartbeats: about one action and a few persistence requests per host per report_interval (docs/schedules.md); liveness is unchanged"})
	}
	add(checkListWorkers(ctx, c, opts.Namespace))
	if !desc.GetNamespaceInfo().GetSupportsSchedules() {
		add(SetupCheck{Name: "frontend.enableSchedules", Result: SetupMissing, Detail: "schedules are off for the namespace",
			Cost: "no service starts: status reports and periodic tasks are Temporal Schedules"})
	} else {
		add(SetupCheck{Name: "frontend.enableSchedules", Result: SetupOK, Detail: "schedules are on"})
	}
	return out, nil
}

func describeNamespace(ctx context.Context, c client.Client, namespace string) (*workflowservice.DescribeNamespaceResponse, error) {
	return c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
}

// waitNamespace waits until a namespace just registered serves: the
// frontend's and history's caches of namespaces refresh every few seconds.
func waitNamespace(ctx context.Context, c client.Client, namespace string, wait time.Duration) (*workflowservice.DescribeNamespaceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		desc, err := describeNamespace(ctx, c, namespace)
		if err == nil {
			_, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
			if err == nil {
				return desc, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkRetention compares the namespace's retention with opts.
func checkRetention(ctx context.Context, c client.Client, desc *workflowservice.DescribeNamespaceResponse, opts TemporalSetupOptions) SetupCheck {
	have := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	if opts.SetRetention && have != opts.Retention {
		if opts.CheckOnly {
			return SetupCheck{Name: "retention", Result: SetupWarning, Detail: fmt.Sprintf("%s, not %s", formatRetention(have), formatRetention(opts.Retention))}
		}
		_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: opts.Namespace,
			Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(opts.Retention)},
		})
		if err != nil {
			return SetupCheck{Name: "retention", Result: SetupFailed, Detail: fmt.Sprintf("setting the retention to %s: %v", formatRetention(opts.Retention), err)}
		}
		return SetupCheck{Name: "retention", Result: SetupUpdated, Detail: fmt.Sprintf("%s, was %s", formatRetention(opts.Retention), formatRetention(have))}
	}
	if have < minRetention {
		return SetupCheck{Name: "retention", Result: SetupWarning, Detail: fmt.Sprintf("%s, under %s", formatRetention(have), formatRetention(minRetention)),
			Cost: "closed calls, builds and periodic runs leave the Web UI and `temporal workflow list` sooner, and a request ID is remembered only that long (a repeated one runs again after it)"}
	}
	return SetupCheck{Name: "retention", Result: SetupOK, Detail: formatRetention(have)}
}

// setupSearchAttributes registers the search attributes the namespace lacks
// and checks the types of those it has.
func setupSearchAttributes(ctx context.Context, c client.Client, opts TemporalSetupOptions) []SetupCheck {
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: opts.Namespace})
	if err != nil {
		return []SetupCheck{{Name: "search attributes", Result: SetupFailed, Detail: fmt.Sprintf("listing them: %v", err), Cost: searchAttributeCost}}
	}
	have := list.GetCustomAttributes()
	var checks []SetupCheck
	missing := map[string]enumspb.IndexedValueType{}
	for _, key := range sortedKeys(opts.SearchAttributes) {
		name, want := key.GetName(), key.GetValueType()
		got, ok := have[name]
		switch {
		case !ok:
			missing[name] = want
		case got != want:
			checks = append(checks, SetupCheck{Name: "search attribute " + name, Result: SetupFailed,
				Detail: fmt.Sprintf("registered as %s, novaflow needs %s: remove it (temporal operator search-attribute remove) and run %s again", typeName(got), typeName(want), SetupCommand),
				Cost:   searchAttributeCost})
		default:
			checks = append(checks, SetupCheck{Name: "search attribute " + name, Result: SetupOK, Detail: typeName(want)})
		}
	}
	if len(missing) == 0 {
		return checks
	}
	result, detail := SetupCreated, ""
	if opts.CheckOnly {
		result = SetupMissing
	} else {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: opts.Namespace, SearchAttributes: missing})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) { // AlreadyExists: another setup ran at the same time
			result, detail = SetupFailed, fmt.Sprintf(": registering it: %v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		check := SetupCheck{Name: "search attribute " + name, Result: result, Detail: typeName(missing[name]) + detail}
		if result != SetupCreated {
			check.Cost = searchAttributeCost
		}
		checks = append(checks, check)
	}
	return checks
}

const searchAttributeCost = "no service starts: every call, build and periodic run carries novaflow's search attributes"

// checkListWorkers asks the server for one worker of the namespace:
// Unimplemented means frontend.ListWorkersEnabled is off.
func checkListWorkers(ctx context.Context, c client.Client, namespace string) SetupCheck {
	_, err := c.WorkflowService().ListWorkers(ctx, &workflowservice.ListWorkersRequest{Namespace: namespace, PageSize: 1})
	var unimplemented *serviceerror.Unimplemented
	var denied *serviceerror.PermissionDenied
	switch {
	case err == nil:
		return SetupCheck{Name: "frontend.ListWorkersEnabled", Result: SetupOK, Detail: "ListWorkers answers"}
	case errors.As(err, &unimplemented), errors.As(err, &denied):
		return SetupCheck{Name: "frontend.ListWorkersEnabled", Result: SetupWarning,
			Detail: fmt.Sprintf("off (dynamic config, default false on Temporal 1.29): %v", err),
			Cost:   "status reports cannot read worker heartbeats: each asks every host with an activity, about one action and a few persistence requests per host per report_interval (docs/schedules.md), and a gracefully stopped service shows down only after service_down_time"}
	default:
		return SetupCheck{Name: "frontend.ListWorkersEnabled", Result: SetupFailed, Detail: fmt.Sprintf("ListWorkers: %v", err)}
	}
}

// searchAttributesChecked holds the (client, namespace) pairs whose search
// attributes CheckSearchAttributes found registered: the services of one
// process (novaflow dev's simulated hosts) ask once.
var searchAttributesChecked sync.Map

// CheckSearchAttributes checks, with one call, that namespace has novaflow's
// search attributes (workflows.SearchAttributes) with their types; the error
// is one line naming SetupCommand. A server that does not let the client list
// them (PermissionDenied, Unimplemented) passes: the first call would fail
// instead. A success is remembered for the life of the process.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	key := [2]any{c, namespace}
	if _, ok := searchAttributesChecked.Load(key); ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	var unimplemented *serviceerror.Unimplemented
	var denied *serviceerror.PermissionDenied
	switch {
	case errors.As(err, &unimplemented), errors.As(err, &denied):
		return nil
	case err != nil:
		return fmt.Errorf("NOVAFLOW_TEMPORAL_NAMESPACE: listing the search attributes of namespace %q: %w", namespace, err)
	}
	var missing, wrong []string
	for _, key := range sortedKeys(workflows.SearchAttributes()) {
		got, ok := list.GetCustomAttributes()[key.GetName()]
		switch {
		case !ok:
			missing = append(missing, key.GetName())
		case got != key.GetValueType():
			wrong = append(wrong, fmt.Sprintf("%s is %s, not %s", key.GetName(), typeName(got), typeName(key.GetValueType())))
		}
	}
	if len(missing) > 0 || len(wrong) > 0 {
		var what []string
		if len(missing) > 0 {
			what = append(what, "lacks the search attributes "+strings.Join(missing, ", "))
		}
		if len(wrong) > 0 {
			what = append(what, "has "+strings.Join(wrong, ", "))
		}
		return fmt.Errorf("NOVAFLOW_TEMPORAL_NAMESPACE: namespace %q %s: run `%s` first", namespace, strings.Join(what, " and "), SetupCommand)
	}
	searchAttributesChecked.Store(key, true)
	return nil
}

// sortedKeys are the keys of attrs by name.
func sortedKeys(attrs temporal.SearchAttributes) []temporal.SearchAttributeKey {
	var keys []temporal.SearchAttributeKey
	for key := range attrs.GetUntypedValues() {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b temporal.SearchAttributeKey) int { return strings.Compare(a.GetName(), b.GetName()) })
	return keys
}

// typeName is a search attribute type as the temporal CLI spells it
// (Keyword, Int...).
func typeName(t enumspb.IndexedValueType) string {
	return strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_")
}

// formatRetention is d in days when it is whole days (7d), else as Go
// prints it.
func formatRetention(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
