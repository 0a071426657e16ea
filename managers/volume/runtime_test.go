package volume_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/volume/fake"
	"github.com/novaflow/novaflow/managers"
	volumemgr "github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// TestStartChecksUpgradeLevels: the runtime reads NOVAFLOW_UPGRADE_LEVELS_*
// for the managers' RPC clients at start, and a bad value stops the start
// with one line naming the setting.
func TestStartChecksUpgradeLevels(t *testing.T) {
	srv := testenv.Temporal(t)
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace = testenv.UniqueName(t, "h"), srv.Address(), srv.Namespace()
	cfg.DatabaseURL, cfg.ReportInterval, cfg.PeriodicEnable = testenv.Postgres(t), 0, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel = time.Second, "warn"
	settings := managers.Defaults[volumemgr.Settings]()
	settings.Driver = fake.Name
	svc, err := worker.Create(cfg, worker.Options{
		Topic: volumemgr.Topic, Temporal: srv.Client(t), ManagerConfig: &settings, Logger: slog.New(slog.DiscardHandler),
		Env: worker.Env{"NOVAFLOW_UPGRADE_LEVELS_VOLUME": "latest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Start(t.Context())
	if err == nil {
		svc.Stop(t.Context())
		t.Fatal("Start with NOVAFLOW_UPGRADE_LEVELS_VOLUME=latest succeeded")
	}
	if !strings.Contains(err.Error(), `NOVAFLOW_UPGRADE_LEVELS_VOLUME: "latest"`) {
		t.Fatalf("Start = %v, want an error naming NOVAFLOW_UPGRADE_LEVELS_VOLUME", err)
	}
}
