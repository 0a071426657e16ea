package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

// noTemporal is a Temporal client that must not be used: the tests below
// fail before anything is sent.
type noTemporal struct{ client.Client }

func TestForManager(t *testing.T) {
	tests := []struct {
		name    string
		deps    managers.Deps
		wantErr string
	}{
		{"no Temporal client", managers.Deps{Host: "h"}, "managers.Deps.Temporal is nil"},
		{"auto without a database", managers.Deps{Temporal: noTemporal{}, RPC: managers.RPCSettings{
			UpgradeLevels: map[string]string{"volume": "auto"}}}, "NOVAFLOW_UPGRADE_LEVELS_VOLUME=auto needs"},
		{"bad level", managers.Deps{Temporal: noTemporal{}, RPC: managers.RPCSettings{
			UpgradeLevels: map[string]string{"volume": "latest"}}}, "NOVAFLOW_UPGRADE_LEVELS_VOLUME"},
		{"negative timeout", managers.Deps{Temporal: noTemporal{}, RPC: managers.RPCSettings{
			ResponseTimeout: -time.Second}}, "must not be negative"},
		{"defaults", managers.Deps{Temporal: noTemporal{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rpc.ForManager(tt.deps)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("ForManager = %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ForManager = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestForManagerAppliesUpgradeLevels: the levels the runtime put in Deps cap
// what the manager's client sends.
func TestForManagerAppliesUpgradeLevels(t *testing.T) {
	c, err := rpc.ForManager(managers.Deps{Temporal: noTemporal{}, RPC: managers.RPCSettings{
		UpgradeLevels: map[string]string{"volume": "1.0"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = c.Call(ctx, "volume", "attach_volume", map[string]string{}, nil, rpc.Version("1.1"))
	if !errors.Is(err, &managers.Error{Type: managers.UnsupportedVersionType}) ||
		!strings.Contains(err.Error(), "NOVAFLOW_UPGRADE_LEVELS_VOLUME=1.0") {
		t.Fatalf("a call above the level = %v, want UnsupportedVersion naming the setting", err)
	}
	for _, tt := range []struct {
		version string
		want    bool
	}{{"1.0", true}, {"0.9", true}, {"1.1", false}} {
		if ok, err := c.CanSendVersion(ctx, "volume", tt.version); err != nil || ok != tt.want {
			t.Errorf("CanSendVersion(volume, %s) = %v, %v; want %v", tt.version, ok, err, tt.want)
		}
	}
	if ok, err := c.CanSendVersion(ctx, "compute", "9.9"); err != nil || !ok {
		t.Errorf("a topic without a level is capped: %v, %v", ok, err)
	}
}
