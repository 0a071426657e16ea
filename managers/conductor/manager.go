package conductor

import (
	"context"
	"errors"
	"fmt"
	"github.com/novaflow/novaflow/policy"
	"log/slog"
	"strings"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
)

// Version is the service version of the conductor manager.
const Version = 1

// Topic is the topic of conductor services.
const Topic = "conductor"

func init() {
	managers.Register(managers.Definition{
		Name:    Topic,
		Topic:   Topic,
		Version: Version,
		// Any replica does the same work: its row may go with it
		// (NOVAFLOW_REMOVE_ON_STOP, for Kubernetes Deployments).
		Stateless: true,
		// Service version 1 serves RPC API 1.0.
		RPCVersions: map[int]string{1: "1.0"},
		// Its methods, for callers in any binary (their versions).
		Methods: func() []managers.Method { return (&Manager{}).RPCMethods() },
		// The instances, compute nodes and actions it shares with the
		// other services of the reference control plane.
		Schemas: []managers.Schema{{Name: store.SchemaName, Migrations: store.Migrations()}},
		New:     func(deps managers.Deps) (managers.Manager, error) { return New(deps) },
	})
}

var (
	_ managers.Manager          = (*Manager)(nil)
	_ managers.WorkflowProvider = (*Manager)(nil)
	_ managers.Owner            = (*Manager)(nil)
)

// Manager is the conductor manager.
type Manager struct {
	logger *slog.Logger
	store  *store.Store
}

// New returns the conductor of deps.
func New(deps managers.Deps) (*Manager, error) {
	if deps.DB == nil {
		return nil, errors.New("conductor manager: no database")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{logger: logger, store: store.New(deps.DB)}, nil
}

// Workflows declares the build workflows that conductor services run:
// conductor.build_instances and its per-instance child.
func (m *Manager) Workflows() []managers.Workflow {
	return buildWorkflows()
}

// RPCMethods declares the conductor's methods, the steps of a build.
func (m *Manager) RPCMethods() []managers.Method {
	methods := []managers.Method{
		managers.NewMethod("create_instances", "1.0", m.CreateInstances),
		managers.NewMethod("claim_instance", "1.0", m.ClaimInstance).WithObject("instance_uuid"),
		managers.NewMethod("release_claim", "1.0", m.ReleaseClaim).WithObject("instance_uuid"),
		managers.NewMethod("finish_build", "1.0", m.FinishBuild).WithObject("instance_uuid"),
	}
	return methods
}

// PeriodicTasks declares none.
func (m *Manager) PeriodicTasks() []managers.PeriodicTask { return nil }

// NewInstance names one instance of CreateRequest.
type NewInstance struct {
	UUID string `json:"uuid" required:"true"`
	Name string `json:"name"`
}

// CreateRequest is the request of create_instances.
type CreateRequest struct {
	// RequestID is the build's request; each instance gets a "create" action
	// of it.
	RequestID string         `json:"request_id" required:"true"`
	Flavor    compute.Flavor `json:"flavor" required:"true"`
	Image     store.Image    `json:"image" required:"true"`
	Instances []NewInstance  `json:"instances" required:"true"`
}

// Validate checks what a compute driver would refuse anyway, so that a bad
// build fails at once, naming the field.
func (r CreateRequest) Validate() error {
	if len(r.Instances) == 0 {
		return managers.InvalidArgument("instances", "must not be empty")
	}
	if strings.TrimSpace(r.RequestID) == "" {
		return managers.InvalidArgument("request_id", "must not be empty")
	}
	if err := managers.CheckText("request_id", r.RequestID, managers.MaxRequestIDLen); err != nil {
		return err
	}
	seen := make(map[string]bool, len(r.Instances))
	for i, n := range r.Instances {
		if err := managers.CheckUUID(fmt.Sprintf("instances[%d].uuid", i), n.UUID); err != nil {
			return err
		}
		if seen[strings.ToLower(n.UUID)] {
			return managers.InvalidArgument(fmt.Sprintf("instances[%d].uuid", i), "%s is given twice", n.UUID)
		}
		seen[strings.ToLower(n.UUID)] = true
		inst := compute.Instance{UUID: n.UUID, Name: n.Name, Flavor: r.Flavor, Command: r.Image.Command, Env: r.Image.Env}
		if err := inst.Validate(); err != nil {
			var ie *compute.InvalidError
			if errors.As(err, &ie) {
				return managers.InvalidArgument(apiField(ie.Field, i), "%s", ie.Reason)
			}
			return managers.InvalidArgument("", "%v", err)
		}
	}
	return nil
}

// apiField names a driver's InvalidError field in the request's terms, for
// instance number i.
func apiField(field string, i int) string {
	switch {
	case strings.HasPrefix(field, "command"), strings.HasPrefix(field, "env"):
		return "image." + field
	case field == "uuid", field == "name":
		return fmt.Sprintf("instances[%d].%s", i, field)
	default:
		return field
	}
}

// CreateResponse is the result of create_instances.
type CreateResponse struct {
	Instances []store.Instance `json:"instances"`
}

// CreateInstances inserts the instances in vm_state building, task_state
// scheduling, each with a "create" action. Instances that exist are left as
// they are, so a repeated call is harmless.
func (m *Manager) CreateInstances(ctx context.Context, req CreateRequest) (CreateResponse, error) {
	// The caller owns what it builds (as nova records the request
	// context's project and user); nobody when authorization is off.
	creds, _ := policy.CredentialsFrom(ctx)
	news := make([]store.NewInstance, len(req.Instances))
	for i, n := range req.Instances {
		news[i] = store.NewInstance{UUID: n.UUID, Name: n.Name, Flavor: req.Flavor, Image: req.Image, ProjectID: creds.ProjectID, UserID: creds.UserID}
	}
	insts, err := m.store.CreateInstances(ctx, req.RequestID, news)
	if err != nil {
		return CreateResponse{}, err
	}
	return CreateResponse{Instances: insts}, nil
}

// ClaimRequest is the request of claim_instance and release_claim.
type ClaimRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	// DestHost is the host of the claim ("host" would route the call).
	DestHost string `json:"dest_host" required:"true"`
}

// Validate checks the UUID and the host.
func (r ClaimRequest) Validate() error {
	if err := managers.CheckUUID("instance_uuid", r.InstanceUUID); err != nil {
		return err
	}
	if r.DestHost == "" {
		return managers.InvalidArgument("dest_host", "must not be empty")
	}
	if !rpc.ValidHost(r.DestHost) {
		return managers.InvalidArgument("dest_host", "%s is not a host name: want letters, digits, '-', '_' and '.', at most 200", managers.Quote(r.DestHost))
	}
	return nil
}

// ClaimResponse is the result of claim_instance.
type ClaimResponse struct {
	Node store.Node `json:"node"`
}

// ClaimInstance claims the instance on dest_host (see store.Claim): NotFound
// when the instance is gone, Conflict when the host has no room, the
// instance is claimed elsewhere or it is being deleted.
func (m *Manager) ClaimInstance(ctx context.Context, req ClaimRequest) (ClaimResponse, error) {
	n, err := m.store.Claim(ctx, req.InstanceUUID, req.DestHost)
	var ce *store.ConflictError
	switch {
	case err == nil:
		return ClaimResponse{Node: n}, nil
	case errors.Is(err, store.ErrNotFound):
		return ClaimResponse{}, managers.NotFound("instance", req.InstanceUUID)
	case errors.As(err, &ce): // being deleted: Field store.DeletingField
		return ClaimResponse{}, ce.Typed(err.Error())
	case errors.Is(err, store.ErrInsufficient), errors.Is(err, store.ErrNoNode), errors.Is(err, store.ErrClaimed):
		return ClaimResponse{}, managers.Conflict("%v", err)
	default:
		return ClaimResponse{}, err
	}
}

// ReleaseResponse is the result of release_claim.
type ReleaseResponse struct{}

// ReleaseClaim gives the instance's claim on dest_host back, if it holds one.
func (m *Manager) ReleaseClaim(ctx context.Context, req ClaimRequest) (ReleaseResponse, error) {
	return ReleaseResponse{}, m.store.Release(ctx, req.InstanceUUID, req.DestHost)
}

// FinishRequest is the request of finish_build.
type FinishRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	RequestID    string `json:"request_id" required:"true"`
	// Fault, when set, is why the build failed: the instance goes to ERROR
	// with it (unless it was deleted meanwhile).
	Fault string `json:"fault,omitempty"`
}

// Validate checks the UUID, the request id and the fault.
func (r FinishRequest) Validate() error {
	if err := managers.CheckUUID("instance_uuid", r.InstanceUUID); err != nil {
		return err
	}
	if err := managers.CheckText("request_id", r.RequestID, managers.MaxRequestIDLen); err != nil {
		return err
	}
	return managers.CheckText("fault", r.Fault, maxFaultLen)
}

// maxFaultLen bounds the fault of finish_build.
const maxFaultLen = 64 << 10

// FinishBuild ends the build of the instance: its "create" action is
// finished, with Success, or with Error and the fault, in which case an
// instance still building goes to ERROR with the fault (nova's
// _set_vm_state_and_notify). An instance being deleted (task_state
// deleting) is left as it is, in one conditional update: its terminate
// owns it, and the delete wins, as in nova, where the build's save expects
// the task state it set and fails on a deleting one. It returns the
// instance as it is then.
func (m *Manager) FinishBuild(ctx context.Context, req FinishRequest) (store.Instance, error) {
	var buildErr error
	if req.Fault != "" {
		buildErr = errors.New(req.Fault)
		_, err := m.store.Update(ctx, req.InstanceUUID,
			store.Cond{VMStates: []store.VMState{store.Building},
				TaskStates: []store.TaskState{store.NoTask, store.Scheduling, store.Spawning}},
			store.Set{VMState: store.Error, TaskState: store.NoTask, Fault: req.Fault})
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return store.Instance{}, fmt.Errorf("finish build of instance %s: %w", req.InstanceUUID, err)
		}
	}
	if err := m.store.FinishRequest(ctx, req.RequestID, "create", req.InstanceUUID, buildErr); err != nil {
		return store.Instance{}, err
	}
	inst, err := m.store.Get(ctx, req.InstanceUUID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Instance{}, managers.NotFound("instance", req.InstanceUUID)
	}
	return inst, err
}

// Owner says who owns the instance a method names (managers.Owner): the
// policy's %(project_id)s of claim_instance, release_claim, finish_build.
func (m *Manager) Owner(ctx context.Context, method, object string) (managers.Ownership, error) {
	return m.store.Owner(ctx, object)
}
