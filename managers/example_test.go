package managers_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
)

// GreetRequest is the request of the greeter's greet method: plain JSON.
type GreetRequest struct {
	Name string `json:"name" required:"true"`
}

// Validate runs after decoding; a typed InvalidArgument names the field.
func (r GreetRequest) Validate() error {
	if strings.TrimSpace(r.Name) == "" {
		return managers.InvalidArgument("name", "must not be blank")
	}
	return nil
}

// GreetResult is its result.
type GreetResult struct {
	Greeting string `json:"greeting"`
	Host     string `json:"host"`
}

// Settings are the greeter's settings, filled by the runtime from
// NOVAFLOW_GREETER_* variables.
type Settings struct {
	Prefix string `envconfig:"GREETER_PREFIX" default:"hello" desc:"the word the greeter greets with"`
}

// Greeter is a manager: it declares its methods and periodic tasks, and
// implements the one lifecycle hook it needs, InitHost.
type Greeter struct {
	host   string
	prefix string
	logger *slog.Logger
}

// The compile-time checks: the manager, and each hook it implements. A hook
// with the wrong signature fails here instead of never being called.
var (
	_ managers.Manager    = (*Greeter)(nil)
	_ managers.InitHoster = (*Greeter)(nil)
)

// NewGreeter is the manager's constructor: it gets its host, database,
// logger and settings from the runtime in managers.Deps.
func NewGreeter(deps managers.Deps) (managers.Manager, error) {
	s, ok := deps.Config.(*Settings)
	if !ok {
		return nil, fmt.Errorf("greeter: settings of type %T", deps.Config)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Greeter{host: deps.Host, prefix: s.Prefix, logger: logger}, nil
}

// InitHost runs first when the service starts, before its record exists.
func (g *Greeter) InitHost(ctx context.Context, rec *servicegroup.Record) error {
	if rec == nil {
		g.logger.Info("first start of this greeter")
	}
	return nil
}

// Greet is an RPC method: activity and workflow type greeter.greet.
func (g *Greeter) Greet(ctx context.Context, req GreetRequest) (GreetResult, error) {
	if req.Name == "nobody" {
		return GreetResult{}, managers.NotFound("person", req.Name)
	}
	return GreetResult{Greeting: g.prefix + ", " + req.Name, Host: g.host}, nil
}

// RPCMethods declares the methods other services (and the shell) may call,
// each with its version.
func (g *Greeter) RPCMethods() []managers.Method {
	return []managers.Method{managers.NewMethod("greet", "1.0", g.Greet)}
}

// PeriodicTasks declares what the service runs on its own, each task from a
// Temporal Schedule of its own.
func (g *Greeter) PeriodicTasks() []managers.PeriodicTask {
	return []managers.PeriodicTask{{
		Name:    "count_greetings",
		Spacing: 5 * time.Minute,
		Run:     func(ctx context.Context) error { return nil },
	}}
}

// The manager registers itself when its package is imported: a binary that
// imports it for effect can run `novaflow run greeter`.
func init() {
	managers.Register(managers.Definition{
		Name:        "greeter",
		Topic:       "greeter",
		Version:     1,
		RPCVersions: map[int]string{1: "1.0"},
		Config:      &Settings{},
		New:         NewGreeter,
	})
}

// This example declares a manager and registers it. The runtime (package
// worker) registers its methods as Temporal activities and workflows, creates
// its schedules and calls its hooks; the manager touches no Temporal API.
func Example() {
	// What the runtime does with it, in short:
	def, _ := managers.ForTopic("greeter", "")
	mgr, _ := def.New(managers.Deps{Host: "node1", Config: &Settings{Prefix: "hello"}})
	for _, m := range mgr.RPCMethods() {
		out, _ := m.Call(context.Background(), []byte(`{"name":"Ada"}`))
		fmt.Printf("%s.%s %s: %s\n", def.Topic, m.Name, m.Version, out)
	}
	if h, ok := mgr.(managers.InitHoster); ok { // each hook, by type assertion
		_ = h.InitHost(context.Background(), nil)
	}
	for _, task := range mgr.PeriodicTasks() {
		fmt.Printf("schedule periodic:%s:node1:%s every %s\n", def.Topic, task.Name, task.Interval(0))
	}
	// Output:
	// greeter.greet 1.0: {"greeting":"hello, Ada","host":"node1"}
	// schedule periodic:greeter:node1:count_greetings every 5m0s
}
