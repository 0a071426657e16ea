package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// stackDir is where `novaflow dev` keeps its data, in the folder it runs in.
const stackDir = ".novaflow"

// stackFile describes a running dev stack so that other novaflow commands in
// the same folder find it without settings.
type stackFile struct {
	PID               int    `json:"pid"`
	TemporalAddress   string `json:"temporal_address"`
	TemporalNamespace string `json:"temporal_namespace"`
	TemporalUI        string `json:"temporal_ui"`
	DatabaseURL       string `json:"database_url"`
	// With `dev --auth`: the authorization settings of its services and
	// its key ring, for the commands run beside it (list filters, decoding
	// results). Never a token: a command presents its user's.
	Auth            bool   `json:"auth,omitempty"`
	AuthJWKS        string `json:"auth_jwks,omitempty"`
	AuthIssuer      string `json:"auth_issuer,omitempty"`
	AuthAudience    string `json:"auth_audience,omitempty"`
	PayloadKeysFile string `json:"payload_keys_file,omitempty"`
}

func stackPath(dir string) string { return filepath.Join(dir, stackDir, "stack.json") }

// findStack looks for a live dev stack in the working folder and its parents.
func findStack() (*stackFile, string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, "", false
	}
	for {
		b, err := os.ReadFile(stackPath(dir))
		if err == nil {
			var st stackFile
			if json.Unmarshal(b, &st) == nil && st.PID > 0 && syscall.Kill(st.PID, 0) == nil {
				return &st, dir, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, "", false
		}
		dir = parent
	}
}

// useDevStack returns the environment of the command: the process's, with
// the settings that are unset pointed at a running dev stack, so that
// `novaflow service list` and `novaflow run compute` work beside `novaflow
// dev` with no settings at all.
func useDevStack() processEnv {
	var p processEnv
	st, dir, ok := findStack()
	if !ok {
		return p
	}
	p.devDir = filepath.Join(dir, stackDir)
	set := func(key, value string) {
		if _, has := os.LookupEnv(key); !has && value != "" {
			p.extra = append(p.extra, key+"="+value)
		}
	}
	// A Temporal server chosen on purpose (a flag, an address or a
	// profile) is used rather than the stack's.
	if !globalClient.temporalGiven() {
		set("NOVAFLOW_TEMPORAL_ADDRESS", st.TemporalAddress)
		if !globalClient.namespaceGiven() {
			set("NOVAFLOW_TEMPORAL_NAMESPACE", st.TemporalNamespace)
		}
	}
	if os.Getenv("DATABASE_URL") == "" {
		set("NOVAFLOW_DATABASE_URL", st.DatabaseURL)
	}
	// A `dev --auth` stack's services check tokens and encrypt payloads:
	// commands that talk to its Temporal verify the token as they do
	// (instance list's scope) and read their results with its key ring.
	if !globalClient.temporalGiven() || globalClient.address == st.TemporalAddress ||
		(globalClient.address == "" && os.Getenv("NOVAFLOW_TEMPORAL_ADDRESS") == st.TemporalAddress) {
		if st.Auth {
			set("NOVAFLOW_AUTH", "true")
			set("NOVAFLOW_AUTH_JWKS", st.AuthJWKS)
			set("NOVAFLOW_AUTH_ISSUER", st.AuthIssuer)
			set("NOVAFLOW_AUTH_AUDIENCE", st.AuthAudience)
		}
		set("NOVAFLOW_PAYLOAD_KEYS_FILE", st.PayloadKeysFile)
	}
	if len(p.extra) > 0 {
		fmt.Fprintf(os.Stderr, "novaflow: using the dev stack of %s (pid %d)\n", filepath.Join(dir, stackDir), st.PID)
	}
	return p
}

func writeStack(dir string, st stackFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := stackPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write dev stack file: %w", err)
	}
	return os.Rename(tmp, stackPath(dir))
}
