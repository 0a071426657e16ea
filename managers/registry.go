package managers

import (
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strings"

	"github.com/novaflow/novaflow/registry"
)

// Definition declares a manager to the registry.
type Definition struct {
	// Name is the manager's name: the value of NOVAFLOW_<TOPIC>_MANAGER that
	// selects it. The manager whose Name equals its Topic is the topic's default.
	Name string
	// Topic is the topic its service listens on.
	Topic string
	// Version is the service version of this code, stored in the service's row.
	// Raise it when the manager's RPC API or behaviour changes incompatibly.
	Version int
	// RPCVersions maps service versions to the RPC API version ("major.minor")
	// that code of that service version serves: the highest method version it
	// knows. Callers with NOVAFLOW_UPGRADE_LEVELS_<TOPIC>=auto cap what they
	// send at the entry of the topic's minimum service version (the highest
	// key not above it). Add an entry whenever a release changes a method.
	RPCVersions map[int]string
	// Methods, when set, returns the manager's RPC methods as RPCMethods
	// declares them, without building a manager (usually the RPCMethods of
	// a zero manager: func() []managers.Method { return
	// (&Manager{}).RPCMethods() }): callers in any binary that registers
	// the definition learn from it the version of each method they speak
	// and its request type (rpc stamps and caps calls with them). The
	// methods are only read, never invoked. Without it, calls of the topic
	// carry a version only when the caller names one (rpc.Version).
	Methods func() []Method
	// Config, when set, is a pointer to the manager's zero settings struct with
	// envconfig tags; the runtime fills a fresh copy from NOVAFLOW_* variables
	// and hands it to New in Deps.Config.
	Config any
	// Migrations, when set, holds the manager's own versioned SQL migrations
	// (files like 00001_create_volumes.sql); the runtime applies them at start,
	// tracked apart from novaflow's own schema, as Schema{Name: Name}.
	Migrations fs.FS
	// Schemas are schemas the manager shares with others, such as the tables
	// of a data model that several services use; the runtime applies them
	// before Migrations, each once however many services list it. Every
	// manager that uses the tables lists the schema, so whichever service
	// starts first on a fresh database creates them.
	Schemas []Schema
	// New builds the manager.
	New func(Deps) (Manager, error)
	// Stateless says the manager keeps nothing tied to its host: every
	// service of the topic does the same work, as nova's conductor and
	// scheduler do, so a service's row may go with its process. With
	// NOVAFLOW_REMOVE_ON_STOP a gracefully stopped service of a stateless
	// topic deletes its own row, so that replicas with throwaway host names
	// (Kubernetes pods) leave no down rows behind; a service of another topic
	// refuses that setting.
	Stateless bool
}

var (
	definitions = registry.New[Definition]("manager")
	topicName   = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

// Register makes a manager available by name. It panics if the name is taken,
// the topic or name is not lower-case, New is nil, or Config is not a pointer
// to a struct whose default tags parse: all programming errors, found when
// the binary starts.
func Register(def Definition) {
	switch {
	case !topicName.MatchString(def.Name):
		panic(fmt.Sprintf("managers: Register: invalid manager name %q", def.Name))
	case !topicName.MatchString(def.Topic):
		panic(fmt.Sprintf("managers: Register: manager %s: invalid topic %q", def.Name, def.Topic))
	case def.New == nil:
		panic(fmt.Sprintf("managers: Register: manager %s has a nil New", def.Name))
	case def.Config != nil && (reflect.TypeOf(def.Config).Kind() != reflect.Pointer ||
		reflect.TypeOf(def.Config).Elem().Kind() != reflect.Struct):
		panic(fmt.Sprintf("managers: Register: manager %s: Config must be a pointer to a struct", def.Name))
	}
	checkDefaults(def.Name, def.Config)
	definitions.Register(def.Name, def)
}

// Lookup returns the manager registered as name. An unknown name fails with
// a *registry.UnknownError (matching registry.ErrUnknown) that lists the
// registered managers.
func Lookup(name string) (Definition, error) { return definitions.Lookup(name) }

// ForTopic returns the manager a service of topic runs: the one named by
// override (NOVAFLOW_<TOPIC>_MANAGER) when it is set, else the topic's default.
func ForTopic(topic, override string) (Definition, error) {
	name := override
	if name == "" {
		name = topic
	}
	def, err := Lookup(name)
	if err != nil {
		if override == "" {
			return Definition{}, fmt.Errorf("no manager for topic %q; topics: %s", topic, strings.Join(Topics(), ", "))
		}
		return Definition{}, fmt.Errorf("NOVAFLOW_%s_MANAGER: %w", EnvName(topic), err)
	}
	if def.Topic != topic {
		return Definition{}, fmt.Errorf("NOVAFLOW_%s_MANAGER: manager %q serves topic %q, not %q", EnvName(topic), name, def.Topic, topic)
	}
	return def, nil
}

// Method returns the method named name of def.Methods, and whether def
// declares it.
func (def Definition) Method(name string) (Method, bool) {
	if def.Methods == nil {
		return Method{}, false
	}
	for _, m := range def.Methods() {
		if m.Name == name {
			return m, true
		}
	}
	return Method{}, false
}

// Names lists the registered manager names, sorted.
func Names() []string { return definitions.Names() }

// Topics lists the topics that have a default manager, sorted.
func Topics() []string {
	var topics []string
	for _, name := range definitions.Names() {
		if def, err := definitions.Lookup(name); err == nil && def.Topic == name {
			topics = append(topics, name)
		}
	}
	return topics
}

// EnvName is a topic as it appears in environment variable names: upper case,
// '-' as '_' (NOVAFLOW_COMPUTE_MANAGER).
func EnvName(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "-", "_"))
}
