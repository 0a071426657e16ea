package rpc_test

import (
	"context"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

func TestVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	ctx := context.Background()

	t.Run("server side", func(t *testing.T) {
		c := f.client(rpc.Options{})
		tests := []struct {
			method, version string
			ok              bool
		}{
			{"newer", "1.1", true},
			{"newer", "1.0", true},  // an older minor of the major
			{"echo", "1.1", false},  // above what echo speaks (1.0)
			{"newer", "2.0", false}, // a major the server does not speak
			{"newer", "0.9", false},
		}
		for _, tt := range tests {
			err := c.Call(ctx, f.topic, tt.method, echoReq{Msg: "x"}, nil, rpc.Version(tt.version))
			if tt.ok {
				if err != nil {
					t.Errorf("%s at %s: %v", tt.method, tt.version, err)
				}
				continue
			}
			if e := asError(t, err); e.Type != managers.UnsupportedVersionType {
				t.Errorf("%s at %s: %v, want UnsupportedVersion", tt.method, tt.version, err)
			}
		}
	})

	t.Run("fixed level", func(t *testing.T) {
		c := f.client(rpc.Options{UpgradeLevels: map[string]string{f.topic: "1.0"}})
		err := c.Call(ctx, f.topic, "newer", echoReq{Msg: "x"}, nil, rpc.Version("1.1"))
		e := asError(t, err)
		if e.Type != managers.UnsupportedVersionType || !strings.Contains(e.Message, rpc.UpgradeLevelEnv(f.topic)+"=1.0") {
			t.Errorf("above the level: %v, want UnsupportedVersion naming the setting", err)
		}
		if _, err := c.Cast(ctx, f.topic, "newer", echoReq{Msg: "x"}, rpc.Version("1.1")); err == nil {
			t.Error("a cast above the level was sent")
		}
		if err := c.Call(ctx, f.topic, "newer", echoReq{Msg: "x"}, nil, rpc.Version("1.0")); err != nil {
			t.Errorf("at the level: %v", err)
		}
		if ok, err := c.CanSendVersion(ctx, f.topic, "1.1"); ok || err != nil {
			t.Errorf("CanSendVersion(1.1) = %v, %v; want false", ok, err)
		}
	})

	t.Run("auto", func(t *testing.T) {
		// A service still at service version 1, started from a binary not
		// named novaflow-<topic>: auto levels follow the topic's services
		// whatever their binary.
		ghost := func(version int) {
			if _, err := f.pool.Exec(ctx, `
				INSERT INTO services (host, "binary", topic, version) VALUES ('old', 'my-service', $1, $2)
				ON CONFLICT (host, "binary") WHERE NOT deleted DO UPDATE SET version = EXCLUDED.version`, f.topic, version); err != nil {
				t.Fatal(err)
			}
		}
		ghost(1)
		c := f.client(rpc.Options{UpgradeLevels: map[string]string{f.topic: rpc.AutoLevel}})
		if v, err := c.UpgradeLevel(ctx, f.topic); v != "1.0" || err != nil {
			t.Fatalf("auto level with a version-1 service: %q, %v; want 1.0", v, err)
		}
		err := c.Call(ctx, f.topic, "newer", echoReq{Msg: "x"}, nil, rpc.Version("1.1"))
		if e := asError(t, err); e.Type != managers.UnsupportedVersionType || !strings.Contains(e.Message, "minimum service version") {
			t.Errorf("above the auto level: %v", err)
		}
		// The old service is upgraded: the level follows, once re-read.
		ghost(testServiceVersion)
		c.ResetUpgradeLevels()
		if v, err := c.UpgradeLevel(ctx, f.topic); v != testAPIVersion || err != nil {
			t.Fatalf("auto level after the upgrade: %q, %v; want %s", v, err, testAPIVersion)
		}
		if err := c.Call(ctx, f.topic, "newer", echoReq{Msg: "x"}, nil, rpc.Version("1.1")); err != nil {
			t.Errorf("at the auto level: %v", err)
		}
	})

	t.Run("memo from the shell", func(t *testing.T) {
		// What --memo 'NovaflowVersion="2.0"' sends.
		opts := client.StartWorkflowOptions{TaskQueue: f.topic, Memo: map[string]any{"NovaflowVersion": "2.0"}}
		run, err := f.temporal.ExecuteWorkflow(ctx, opts, f.topic+".echo", map[string]string{"msg": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if e := asError(t, activities.FromApplicationError(run.Get(ctx, nil))); e.Type != managers.UnsupportedVersionType {
			t.Errorf("memo version 2.0: %v, want UnsupportedVersion", e)
		}
	})
}
