package faults

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"

	// The reference control plane, as the novaflow binary links it.
	_ "github.com/novaflow/novaflow/drivers/compute/process"
	_ "github.com/novaflow/novaflow/drivers/volume/fake"
	_ "github.com/novaflow/novaflow/drivers/volume/file"
	_ "github.com/novaflow/novaflow/managers/compute"
	_ "github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/volume"
)

// serviceEnv makes the test binary run the service of the topic it names,
// as `novaflow run <topic>` does, instead of the tests: the processes the
// fault tests start and kill.
const serviceEnv = "NOVAFLOW_FAULTS_SERVICE"

func TestMain(m *testing.M) {
	if topic := os.Getenv(serviceEnv); topic != "" {
		os.Exit(runService(topic))
	}
	testenv.Main(m)
}

// runService is `novaflow run <topic>` without telemetry: the settings from
// the environment, the service, signals. It prints a failure as the
// novaflow binary does and returns the exit code.
func runService(topic string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "novaflow:", err)
		return 1
	}
	// The environment, read again on SIGHUP with NOVAFLOW_CONFIG_FILE.
	load := func() (worker.Env, error) { return worker.LoadEnv(os.Environ()) }
	env, err := load()
	if err != nil {
		return fail(err)
	}
	cfg, err := worker.LoadConfig(env)
	if err != nil {
		return fail(err)
	}
	level := new(slog.LevelVar) // NOVAFLOW_LOG_LEVEL, changed by SIGHUP
	logger := worker.NewLogger(os.Stderr, cfg, level)
	svc, err := worker.Create(cfg, worker.Options{Topic: topic, Logger: logger, LogLevel: level, Env: env, Reload: load})
	if err != nil {
		return fail(err)
	}
	if err := worker.Run(context.Background(), worker.RunOptions{Logger: logger}, svc); err != nil {
		return fail(err)
	}
	return 0
}

// Drivers and a strategy that hold work in the middle, so that a test can
// kill the service that does it at that moment.
const (
	// HoldProcessDriver is the process driver whose Spawn waits
	// hold_before_spawn before it starts the instance's process and
	// hold_after_spawn after (the process runs, the database still says
	// spawning).
	HoldProcessDriver = "faults-process"
	// HoldFakeDriver is the fake driver with the same options.
	HoldFakeDriver = "faults-fake"
	// SlowStrategy is the spread strategy with a weigher that takes
	// NOVAFLOW_FAULTS_WEIGH_DELAY per host, so that select_destinations
	// runs for a while.
	SlowStrategy  = "faults-slow"
	weighDelayEnv = "NOVAFLOW_FAULTS_WEIGH_DELAY"
)

func init() {
	compute.Register(HoldProcessDriver, func(cfg compute.Config) (compute.Driver, error) {
		return openHold(cfg, true, func(cfg compute.Config) (compute.Driver, error) { return compute.Open("process", cfg) })
	})
	compute.Register(HoldFakeDriver, func(cfg compute.Config) (compute.Driver, error) {
		return openHold(cfg, false, func(cfg compute.Config) (compute.Driver, error) { return fake.Open(cfg) })
	})
	delay, _ := time.ParseDuration(os.Getenv(weighDelayEnv))
	scheduler.RegisterStrategy(SlowStrategy, scheduler.Strategy{
		Filters:  []scheduler.Filter{scheduler.IgnoreHostsFilter{}, scheduler.ComputeFilter{}, scheduler.ResourceFilter{}},
		Weighers: []scheduler.WeightedWeigher{{Weigher: slowWeigher{delay}, Multiplier: 1}, {Weigher: scheduler.RAMWeigher{}, Multiplier: 1}},
	})
}

type slowWeigher struct{ delay time.Duration }

func (slowWeigher) Name() string { return "SlowWeigher" }

func (w slowWeigher) Weigh(scheduler.HostState, scheduler.Spec) float64 {
	time.Sleep(w.delay)
	return 0
}

// holdDriver holds Spawn before and after the driver's own; with
// resources set, it reports them as the host's capacity (the process
// driver reports the machine's, a few vCPUs here).
type holdDriver struct {
	compute.Driver
	before, after time.Duration
	power         time.Duration // before PowerOff and PowerOn
	resources     *compute.Resources
}

// openHold opens a holdDriver around the driver open opens. Its options are
// hold_before_spawn, hold_after_spawn and hold_power (durations) and, when
// ownResources, vcpus, memory_mb and disk_gb; the others are the driver's.
func openHold(cfg compute.Config, ownResources bool, open func(compute.Config) (compute.Driver, error)) (compute.Driver, error) {
	opts := maps.Clone(cfg.Options)
	var d holdDriver
	for key, dst := range map[string]*time.Duration{"hold_before_spawn": &d.before, "hold_after_spawn": &d.after, "hold_power": &d.power} {
		if v, ok := opts[key]; ok {
			var err error
			if *dst, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("option %s: %w", key, err)
			}
			delete(opts, key)
		}
	}
	if ownResources {
		res := compute.Resources{}
		for key, dst := range map[string]*int{"vcpus": &res.VCPUs, "memory_mb": &res.MemoryMB, "disk_gb": &res.DiskGB} {
			if v, ok := opts[key]; ok {
				var err error
				if *dst, err = strconv.Atoi(v); err != nil {
					return nil, fmt.Errorf("option %s: %w", key, err)
				}
				delete(opts, key)
				d.resources = &res
			}
		}
	}
	cfg.Options = opts
	inner, err := open(cfg)
	if err != nil {
		return nil, err
	}
	d.Driver = inner
	return d, nil
}

func (d holdDriver) Resources(ctx context.Context) (compute.Resources, error) {
	if d.resources != nil {
		return *d.resources, nil
	}
	return d.Driver.Resources(ctx)
}

func (d holdDriver) Spawn(ctx context.Context, inst compute.Instance) error {
	if err := sleep(ctx, d.before); err != nil {
		return err
	}
	if err := d.Driver.Spawn(ctx, inst); err != nil {
		return err
	}
	return sleep(ctx, d.after)
}

func (d holdDriver) PowerOff(ctx context.Context, uuid string, timeout time.Duration) error {
	if err := sleep(ctx, d.power); err != nil {
		return err
	}
	return d.Driver.PowerOff(ctx, uuid, timeout)
}

func (d holdDriver) PowerOn(ctx context.Context, uuid string) error {
	if err := sleep(ctx, d.power); err != nil {
		return err
	}
	return d.Driver.PowerOn(ctx, uuid)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
