package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/policy"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
)

// BinaryPrefix is stripped from a binary's name to get its topic
// (novaflow-compute serves topic compute), as nova strips "nova-".
const BinaryPrefix = "novaflow-"

// Options are what Create needs beyond Config. Every field is optional.
type Options struct {
	// Binary is the service's binary name; default: basename(argv[0]), or
	// novaflow-<Topic> when the process is the novaflow command itself.
	Binary string
	// Topic is the service's topic; default: Binary without "novaflow-".
	Topic string
	// Manager names the manager to run; default: NOVAFLOW_<TOPIC>_MANAGER
	// of Env, else the topic's registered default.
	Manager string
	// Env is the environment (LoadEnv) the service reads what Config does
	// not hold from: NOVAFLOW_<TOPIC>_MANAGER, its manager's settings and
	// NOVAFLOW_UPGRADE_LEVELS_<TOPIC>. nil: none is set (every default).
	Env Env
	// Reload, when set, returns the environment as it is now (cmd: the
	// process's variables and NOVAFLOW_CONFIG_FILE read again): Reset
	// (SIGHUP) reads the mutable settings from it. When nil, Reset keeps the
	// settings the service has.
	Reload func() (Env, error)
	// LogLevel, when set, is the level of Logger (NewLogger): Reset sets it
	// to NOVAFLOW_LOG_LEVEL, so a SIGHUP changes what the process logs.
	LogLevel *slog.LevelVar
	// Logger is the process logger; default: slog.Default().
	Logger *slog.Logger
	// Temporal is a client to share between services of one process; when nil
	// the service dials its own at Start and closes it at Stop. A client of
	// your own must send worker heartbeats at least every quarter of
	// NOVAFLOW_REPORT_INTERVAL (client.Options.WorkerHeartbeatInterval; Dial
	// sets it): status reports see services alive by them, and with the SDK's
	// default of 60 s a service shows down between two heartbeats.
	Temporal client.Client
	// DB is a pool to share between services of one process; when nil the
	// service opens its own at Start and closes it at Stop.
	DB *pgxpool.Pool
	// OneReconcilePerProcess, for the services of one process that share
	// Temporal (simulated hosts), lets a service skip the topic's schedules
	// that another service of the process has just brought in line with the
	// same settings, instead of asking the server for each again.
	OneReconcilePerProcess bool
	// StateDir is the service's state directory, handed to its manager
	// (managers.Deps.StateDir) as the default place of its files: cmd gives
	// $STATE_DIRECTORY (systemd's StateDirectory=) or /var/lib/novaflow/<topic>
	// (DefaultStateDir), novaflow dev its own data dir. "": none.
	StateDir string
	// ManagerConfig, when set, is the manager's settings (a pointer of the
	// type of its Definition.Config), used instead of reading them from the
	// environment: for services of one process that differ, such as the
	// simulated hosts of novaflow dev.
	ManagerConfig any
}

// Service hosts one manager on one host: nova's Service.
type Service struct {
	host, binary, topic string
	def                 managers.Definition
	managerConfig       any
	stateDir            string
	oncePerProcess      bool
	logger              *slog.Logger
	reload              func() (Env, error)
	logLevel            *slog.LevelVar
	verifier            *auth.Verifier // nil: authorization is off
	markKeys            *auth.MarkKeys // with verifier: the framework runs' mark keys (loadMarkKeys)
	policy              *policy.Policy
	// stopAuthz ends the verifier's background work (the refresh of a
	// JWKS fetched from a URL), at Stop.
	stopAuthz context.CancelFunc

	mu      sync.Mutex // guards cfg, env, and the fields Start sets up
	cfg     Config
	env     Env
	mgr     managers.Manager
	client  client.Client
	pool    *pgxpool.Pool
	owned   []func() // closers of what the service opened itself, run at Stop
	store   *servicegroup.Store
	workers []sdkworker.Worker
	state   state
	// cleanupLeft: CleanupHost did not return within the graceful
	// shutdown timeout and still runs.
	cleanupLeft bool

	// calls is the RPC client whose settings the calls of this service's
	// workflows follow (rpc.Client.RegisterActivities).
	calls *rpc.Client

	live liveSettings // the mutable settings read outside s.mu
	// ready and conns are read without s.mu, which Start holds through
	// its network calls: a health probe answers at once while it runs.
	ready atomic.Bool
	conns atomic.Pointer[conns]
}

// conns are the connections of a started service, for health checks.
type conns struct {
	pool   *pgxpool.Pool
	client client.Client
}

// liveSettings are the mutable settings that code running outside s.mu
// reads when it uses them (RPC clients, workflows, activities), so that a
// SIGHUP (Reset) changes them without a restart.
type liveSettings struct {
	response, cast, down, fuzzy  atomic.Int64 // time.Duration
	levels                       atomic.Pointer[map[string]string]
	periodicEnable, runExternals atomic.Bool
}

func (l *liveSettings) upgradeLevels() map[string]string {
	if p := l.levels.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *liveSettings) set(c Config) {
	l.response.Store(int64(c.RPCResponseTimeout))
	l.cast.Store(int64(c.CastTimeout))
	l.down.Store(int64(c.DownTime()))
	l.fuzzy.Store(int64(c.PeriodicFuzzyDelay))
	l.periodicEnable.Store(c.PeriodicEnable)
	l.runExternals.Store(c.RunExternalPeriodicTasks)
}

// periodicGate says why task may not run on this host now ("" when it may):
// periodic tasks off, or an external_process_ok task on a host that runs
// none.
func (l *liveSettings) periodicGate(task managers.PeriodicTask) func() string {
	return func() string {
		switch {
		case !l.periodicEnable.Load():
			return activities.SkippedDisabled
		case task.ExternalProcessOK && !l.runExternals.Load():
			return activities.SkippedExternal
		}
		return ""
	}
}

func (l *liveSettings) rpcTimeouts() (response, cast time.Duration) {
	return time.Duration(l.response.Load()), time.Duration(l.cast.Load())
}
func (l *liveSettings) castTimeout() time.Duration { return time.Duration(l.cast.Load()) }
func (l *liveSettings) downTime() time.Duration    { return time.Duration(l.down.Load()) }
func (l *liveSettings) fuzzyDelay() time.Duration  { return time.Duration(l.fuzzy.Load()) }

type state int

const (
	created state = iota
	running
	stopped
)

// Create builds a service with nova's defaults (Service.create): host from
// the settings, binary from argv[0], topic from the binary, manager from the
// registry. It validates the settings but touches nothing outside the process.
func Create(cfg Config, opts Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	binary, topic, err := names(opts.Binary, opts.Topic)
	if err != nil {
		return nil, err
	}
	override := opts.Manager
	if override == "" {
		override = opts.Env.Get(EnvPrefix + "_" + managers.EnvName(topic) + "_MANAGER")
	}
	def, err := managers.ForTopic(topic, override)
	if err != nil {
		return nil, err
	}
	if cfg.RemoveOnStop && !def.Stateless {
		return nil, &ConfigError{Setting: EnvPrefix + "_REMOVE_ON_STOP", Err: fmt.Errorf("manager %s of topic %s keeps state on its host (not managers.Definition.Stateless): its row must outlive the process", def.Name, topic)}
	}
	if opts.ManagerConfig != nil && reflect.TypeOf(opts.ManagerConfig) != reflect.TypeOf(def.Config) {
		return nil, fmt.Errorf("manager %s: settings of type %T given, want %T", def.Name, opts.ManagerConfig, def.Config)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("service", binary, "host", cfg.Host, "topic", topic)
	s := &Service{
		host: cfg.Host, binary: binary, topic: topic, def: def, managerConfig: opts.ManagerConfig, stateDir: opts.StateDir, oncePerProcess: opts.OneReconcilePerProcess, logger: logger,
		reload: opts.Reload, logLevel: opts.LogLevel,
		cfg: cfg, env: opts.Env, client: opts.Temporal, pool: opts.DB,
	}
	actx, stopAuthz := context.WithCancel(context.Background())
	if s.verifier, s.policy, err = cfg.loadAuthz(actx, logger); err != nil {
		stopAuthz()
		return nil, err
	}
	s.stopAuthz = stopAuthz
	switch {
	case !cfg.Auth:
		logger.Debug("authorization is off (NOVAFLOW_AUTH): any caller that reaches the namespace may call every method")
	case cfg.Token == "" && cfg.TokenFile == "":
		logger.Warn("authorization is on but NOVAFLOW_TOKEN (or _FILE) is unset: calls this service makes on its own, without a caller (periodic tasks, hooks), carry no identity and are refused; give it a token with role service")
	}
	s.live.set(cfg)
	warnDownTime(logger, cfg)
	return s, nil
}

// warnDownTime logs, as nova's servicegroup API does, when
// service_down_time is raised because report_interval is too long for it.
// nova raises it to 2.5 x report_interval only when it is not above
// report_interval; novaflow whenever it is below 2.5 x report_interval, so
// that one late report never shows a service down (docs/configuration.md).
func warnDownTime(logger *slog.Logger, cfg Config) {
	if eff := cfg.DownTime(); eff != cfg.ServiceDownTime {
		logger.Warn("report interval must be less than service down time / 2.5: setting service_down_time to 2.5 x report_interval",
			"service_down_time", cfg.ServiceDownTime, "report_interval", cfg.ReportInterval, "new_service_down_time", eff)
	}
}

// names applies nova's defaults: binary = basename(argv[0]); topic = binary
// minus the prefix.
func names(binary, topic string) (string, string, error) {
	if binary == "" {
		binary = filepath.Base(os.Args[0])
		if topic != "" && !strings.HasPrefix(binary, BinaryPrefix) {
			binary = BinaryPrefix + topic // `novaflow run compute` is novaflow-compute
		}
	}
	if topic == "" {
		if !strings.HasPrefix(binary, BinaryPrefix) {
			return "", "", fmt.Errorf("no topic: binary %q is not named %s<topic>; use `novaflow run <topic>`", binary, BinaryPrefix)
		}
		topic = strings.TrimPrefix(binary, BinaryPrefix)
	}
	return binary, topic, nil
}

// StateRoot is where the services of `novaflow run` keep their state by
// default, each in a folder named after its topic (DefaultStateDir).
const StateRoot = "/var/lib/novaflow"

// DefaultStateDir is the state directory of a service of topic: stateDirectory
// when it is set (the value of $STATE_DIRECTORY, which systemd sets from
// StateDirectory=: the first of its paths), else StateRoot/<topic>. The
// caller reads the environment; the runtime does not.
func DefaultStateDir(topic, stateDirectory string) string {
	if first, _, _ := strings.Cut(stateDirectory, ":"); first != "" {
		return first
	}
	return filepath.Join(StateRoot, topic)
}

// Host is the service's host.
func (s *Service) Host() string { return s.host }

// Binary is the service's binary name (nova's service_name).
func (s *Service) Binary() string { return s.binary }

// Topic is the service's topic.
func (s *Service) Topic() string { return s.topic }

// Version is the service version of the code this service runs.
func (s *Service) Version() int { return s.def.Version }

// HostQueue is the task queue of work for this host only: <topic>.<host>.
func (s *Service) HostQueue() string { return HostQueue(s.topic, s.host) }

// HostQueue is the task queue of a topic's host: <topic>.<host>.
func HostQueue(topic, host string) string { return topic + "." + host }

// Config returns the service's current settings.
func (s *Service) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Manager returns the manager the service hosts, once Start has built it.
func (s *Service) Manager() managers.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mgr
}

// Ready reports whether the service has started and not begun to stop. It
// does not wait for a Start or Stop under way.
func (s *Service) Ready() bool { return s.ready.Load() }

// Start brings the service up in nova's order, step for step. On an error
// the service has undone what it started and can be dropped.
func (s *Service) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != created {
		return errors.New("service already started")
	}
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()

	// 1. basic_config_check: temp dir, database and schema, Temporal and its
	//    namespace, and the manager with its drivers.
	if err := s.basicConfigCheck(ctx); err != nil {
		return err
	}
	// 2. Our own record, absent on the first start of this service.
	rec, err := s.store.Get(ctx, s.host, s.binary)
	if err != nil && !errors.Is(err, servicegroup.ErrNotFound) {
		return err
	}
	// 3. The manager sees the host before any record is written.
	if h, ok := s.mgr.(managers.InitHoster); ok {
		if err := h.InitHost(ctx, rec); err != nil {
			return fmt.Errorf("init host: %w", err)
		}
	}
	// 4. Create or update the record with this code's version and build ID;
	//    refuse to run when the rest of the deployment is already newer.
	if rec, err = s.store.Register(ctx, s.host, s.binary, s.topic, s.def.Version, s.cfg.BuildIDOfBinary()); err != nil {
		return err
	}
	// 5. The manager's last word before work can arrive.
	if h, ok := s.mgr.(managers.PreStartHooker); ok {
		if err := h.PreStartHook(ctx, rec); err != nil {
			return fmt.Errorf("pre-start hook: %w", err)
		}
	}
	// 6. RPC consumers: workers polling <topic> and <topic>.<host>.
	if err := s.startWorkers(); err != nil {
		return err
	}
	// 7. Work may arrive now.
	if h, ok := s.mgr.(managers.PostStartHooker); ok {
		if err := h.PostStartHook(ctx); err != nil {
			return fmt.Errorf("post-start hook: %w", err)
		}
	}
	// 8. The status report, and 9. the periodic tasks (when enabled), as
	//    Temporal Schedules reconciled with what this service declares.
	if err := s.reconcileSchedules(ctx); err != nil {
		return err
	}
	s.state = running
	s.conns.Store(&conns{pool: s.pool, client: s.client})
	s.ready.Store(true)
	s.logger.Info("service started", "version", s.def.Version, "queues", []string{s.topic, s.HostQueue()})
	return nil
}

// newManager builds the manager with its settings; its drivers load here.
func (s *Service) newManager() (managers.Manager, error) {
	cfg := s.managerConfig
	if cfg == nil && s.def.Config != nil {
		cfg = reflect.New(reflect.TypeOf(s.def.Config).Elem()).Interface()
		if err := s.env.Decode(cfg); err != nil {
			return nil, err
		}
	}
	// What the manager needs to call other services (rpc.ForManager).
	levels, err := rpc.LoadUpgradeLevels(s.env.Get, managers.Topics()...)
	if err != nil {
		return nil, err
	}
	s.live.levels.Store(&levels)
	// The settings of calls made by the workflows this service runs
	// (rpc.CallFromWorkflow and friends), read through the activity
	// rpc.CallVersionName: the upgrade levels, and the method versions of
	// the binary's manager definitions (this service's own for its topic).
	own := s.def
	calls, err := rpc.New(rpc.Options{
		Temporal: s.client, Services: s.store, UpgradeLevels: levels, CurrentUpgradeLevels: s.live.upgradeLevels,
		Definition: func(topic string) (managers.Definition, error) {
			if topic == own.Topic {
				return own, nil
			}
			return managers.ForTopic(topic, "")
		},
	})
	if err != nil {
		return nil, err
	}
	s.calls = calls
	mgr, err := s.def.New(managers.Deps{
		Host: s.host, Binary: s.binary, Topic: s.topic, DB: s.pool, Logger: s.logger, Config: cfg, StateDir: s.stateDir,
		Temporal: s.client, DownTime: s.live.downTime,
		RPC: managers.RPCSettings{
			ResponseTimeout: s.cfg.RPCResponseTimeout, CastTimeout: s.cfg.CastTimeout, UpgradeLevels: levels,
			Timeouts: s.live.rpcTimeouts, CurrentUpgradeLevels: s.live.upgradeLevels,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("manager %s: %w", s.def.Name, err)
	}
	if err := managers.CheckHooks(mgr); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Stop stops the service gracefully: it stops polling, lets in-flight
// activities finish within the graceful shutdown timeout, then calls
// CleanupHost. Errors are logged; Stop always finishes. The topic's schedules
// keep running for the topic's other services; this one's last worker
// heartbeat says it stopped, so it shows down once service_down_time has
// passed (a periodic run until then counts its host unreachable). With
// NOVAFLOW_REMOVE_ON_STOP (a stateless topic) it then deletes its own row
// and the schedules of its host, as nova's kill does: the replica is gone,
// not down. It ends the background refresh of a NOVAFLOW_AUTH_JWKS URL too,
// also for a service that was created but never started.
func (s *Service) Stop(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A service is started once: its verifier is not needed after Stop,
	// whether it started or not.
	defer func() {
		if s.stopAuthz != nil {
			s.stopAuthz()
		}
	}()
	if s.stopLocked(ctx) {
		if s.cfg.RemoveOnStop && s.def.Stateless {
			s.removeRecord(ctx)
		}
		s.teardown()
		s.logger.Info("service stopped")
	}
}

// removeRecordTimeout bounds the deletes of removeRecord, after the
// graceful stop.
const removeRecordTimeout = 10 * time.Second

// removeRecord deletes the service's row and its host's schedules, after
// its workers stopped: their last heartbeats say so, so no status report
// recreates the row. Failures are logged; the row then shows down as it
// would without the setting.
func (s *Service) removeRecord(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeRecordTimeout)
	defer cancel()
	// Only the row: the topic's schedules serve its other services, and a
	// replica of today's code never had schedules of its own.
	if _, err := s.store.Delete(ctx, s.host, s.binary); err != nil {
		s.logger.Error("remove on stop: service record", "error", err)
		return
	}
	s.logger.Info("service record deleted on stop (NOVAFLOW_REMOVE_ON_STOP)")
}

// Kill stops the service, then deletes its record (nova's kill), and the
// schedules it owned before schedules were per topic.
func (s *Service) Kill(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopLocked(ctx) {
		return errors.New("kill: service is not running")
	}
	defer s.teardown()
	if err := DeleteSchedules(ctx, s.client, s.topic, s.binary, s.host); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	if _, err := s.store.Delete(ctx, s.host, s.binary); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	s.logger.Info("service killed: record and schedules deleted")
	return nil
}

// stopLocked is Stop up to, not including, closing connections. It reports
// false when the service was not running.
func (s *Service) stopLocked(ctx context.Context) bool {
	if s.state != running {
		return false
	}
	s.state = stopped
	s.ready.Store(false)
	s.logger.Info("service stopping", "graceful_timeout", s.cfg.GracefulShutdownTimeout)
	// nova's graceful_shutdown_timeout bounds the whole stop: the drain of
	// in-flight work, then CleanupHost with what is left of it (at least
	// minCleanupTime). With 0 the SDK cancels in-flight activities at once
	// and CleanupHost has no bound.
	deadline := time.Now().Add(s.cfg.GracefulShutdownTimeout)
	s.stopWorkers()
	if t := s.cfg.GracefulShutdownTimeout; t > 0 {
		cleanupCtx, cancel := context.WithDeadline(ctx, later(deadline, time.Now().Add(min(t, minCleanupTime))))
		defer cancel()
		ctx = cleanupCtx
	}
	if h, ok := s.mgr.(managers.CleanupHoster); ok {
		if err := cleanupHost(ctx, h); err != nil {
			s.logger.Error("cleanup host", "error", err)
			// A hook left running may hold a pooled connection, and
			// closing the pool waits for it: teardown does not wait.
			s.cleanupLeft = ctx.Err() != nil
		}
	}
	return true
}

// minCleanupTime is the least time CleanupHost gets when the drain took the
// whole graceful shutdown timeout.
const minCleanupTime = 5 * time.Second

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cleanupHost calls the manager's CleanupHost and returns when it returns or
// ctx ends, whichever is first: a hook that ignores its context cannot hold
// the process past its graceful shutdown timeout (nova exits then too).
func cleanupHost(ctx context.Context, mgr managers.CleanupHoster) error {
	done := make(chan error, 1)
	go func() { done <- mgr.CleanupHost(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("did not return within the graceful shutdown timeout (NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT); stopping without it: %w", context.Cause(ctx))
	}
}

// Reset re-reads the mutable settings (Options.Reload), reconciles the
// schedules with them and calls the manager's Reset (SIGHUP); the service
// keeps running.
func (s *Service) Reset(ctx context.Context) error {
	var cfg Config
	var levels map[string]string
	if s.reload != nil {
		env, err := s.reload()
		if err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if cfg, err = LoadConfig(env); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if levels, err = rpc.LoadUpgradeLevels(env.Get, managers.Topics()...); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != running {
		return errors.New("reset: service is not running")
	}
	prev := s.cfg
	if s.reload != nil {
		s.cfg = mergeMutable(s.cfg, cfg, s.logger)
		if s.cfg.DownTime() != prev.DownTime() || s.cfg.ServiceDownTime != prev.ServiceDownTime {
			warnDownTime(s.logger, s.cfg)
		}
	}
	if err := s.reconcileSchedules(ctx); err != nil {
		s.cfg = prev // the schedules still follow the previous settings
		return fmt.Errorf("reset: %w", err)
	}
	s.live.set(s.cfg)
	if s.reload != nil {
		s.live.levels.Store(&levels)
	}
	if s.calls != nil {
		s.calls.ResetUpgradeLevels()
	}
	if s.logLevel != nil {
		if level, err := parseLevel(s.cfg.LogLevel); err == nil { // Validate passed
			s.logLevel.Set(level)
		}
	}
	if h, ok := s.mgr.(managers.Resetter); ok {
		if err := h.Reset(ctx); err != nil {
			return fmt.Errorf("reset: manager: %w", err)
		}
	}
	s.logger.Info("service reset")
	return nil
}

// mergeMutable takes the mutable settings of next into cur and logs the
// immutable ones that changed, which need a restart.
func mergeMutable(cur, next Config, logger *slog.Logger) Config {
	out := cur
	out.ReportInterval = next.ReportInterval
	out.ServiceDownTime = next.ServiceDownTime
	out.PeriodicEnable = next.PeriodicEnable
	out.PeriodicFuzzyDelay = next.PeriodicFuzzyDelay
	out.PeriodicIntervalMax = next.PeriodicIntervalMax
	out.RunExternalPeriodicTasks = next.RunExternalPeriodicTasks
	out.RPCResponseTimeout = next.RPCResponseTimeout
	out.CastTimeout = next.CastTimeout
	out.LogLevel = next.LogLevel
	// Temporal's own configuration, read afresh, is compared by value.
	probe, nextProbe := out, next
	probe.temporal, nextProbe.temporal = nil, nil
	if probe != nextProbe || !reflect.DeepEqual(out.temporal, next.temporal) {
		logger.Warn("some changed settings take effect only after a restart (host, addresses, database, shutdown timeout, log format)")
	}
	return out
}

// teardown closes what the service opened itself, newest first.
func (s *Service) teardown() {
	s.conns.Store(nil)
	s.stopWorkers()
	closeAll := func(owned []func()) {
		for i := len(owned) - 1; i >= 0; i-- {
			owned[i]()
		}
	}
	if s.cleanupLeft {
		go closeAll(s.owned) // done when the CleanupHost left behind returns
	} else {
		closeAll(s.owned)
	}
	s.owned = nil
}
