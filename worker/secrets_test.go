package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFiles: NOVAFLOW_DATABASE_URL_FILE and NOVAFLOW_TEMPORAL_API_KEY_FILE
// give the secret from a file (its trailing line break dropped); setting
// both forms, an unreadable, empty or multi-line file is a *ConfigError
// naming the _FILE setting that does not hold the secret; `novaflow config`
// (Settings) shows the file, never the secret.
func TestSecretFiles(t *testing.T) {
	const url = "postgres://novaflow:pw-s3cr3t@db.internal:5432/novaflow?sslmode=verify-full"
	const key = "key-s3cr3t"
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urlFile, keyFile := file("url", url+"\n"), file("key", key+"\r\n")
	env := Env{"NOVAFLOW_HOST": "h1", "NOVAFLOW_DATABASE_URL_FILE": urlFile, "NOVAFLOW_TEMPORAL_API_KEY_FILE": keyFile}
	cfg, err := LoadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != url || cfg.TemporalAPIKey != key {
		t.Fatalf("from files: database URL %q, API key %q", cfg.DatabaseURL, cfg.TemporalAPIKey)
	}
	for _, s := range Settings(&cfg) {
		if strings.Contains(s.Value, "pw-s3cr3t") || strings.Contains(s.Value, key) {
			t.Errorf("setting %s shows a secret: %q", s.Name, s.Value)
		}
		if s.Name == "NOVAFLOW_DATABASE_URL_FILE" && s.Value != urlFile {
			t.Errorf("NOVAFLOW_DATABASE_URL_FILE shows %q, want the file", s.Value)
		}
	}

	for _, c := range []struct {
		name, env, value, setting string
	}{
		{"both", "NOVAFLOW_DATABASE_URL", url, "NOVAFLOW_DATABASE_URL_FILE"},
		{"missing", "NOVAFLOW_DATABASE_URL_FILE", filepath.Join(dir, "none"), "NOVAFLOW_DATABASE_URL_FILE"},
		{"empty", "NOVAFLOW_TEMPORAL_API_KEY_FILE", file("empty", "\n"), "NOVAFLOW_TEMPORAL_API_KEY_FILE"},
		{"two lines", "NOVAFLOW_TEMPORAL_API_KEY_FILE", file("two", key+"\n"+key+"\n"), "NOVAFLOW_TEMPORAL_API_KEY_FILE"},
		{"huge", "NOVAFLOW_DATABASE_URL_FILE", file("huge", strings.Repeat("x", maxSecretFile+1)), "NOVAFLOW_DATABASE_URL_FILE"},
		{"key in the environment too", "NOVAFLOW_TEMPORAL_API_KEY", "a-key", "NOVAFLOW_TEMPORAL_API_KEY_FILE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(env.With(c.env + "=" + c.value))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Setting != c.setting {
				t.Fatalf("error %v, want one naming %s", err, c.setting)
			}
			if strings.Contains(err.Error(), "pw-s3cr3t") || strings.Contains(err.Error(), key) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestAPIKeyFileRotation: the API key of NOVAFLOW_TEMPORAL_API_KEY_FILE is
// read again at each call, and the last good key is kept while the file is
// being replaced.
func TestAPIKeyFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("key-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get := apiKeyFile(path, "key-1")
	ctx := context.Background()
	if k, err := get(ctx); err != nil || k != "key-1" {
		t.Fatalf("key %q, %v", k, err)
	}
	if err := os.WriteFile(path, []byte("key-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, _ := get(ctx); k != "key-2" {
		t.Fatalf("after rotation: key %q, want key-2", k)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if k, _ := get(ctx); k != "key-2" {
		t.Fatalf("while the file is gone: key %q, want the last one", k)
	}
	conn, creds, err := (Config{TemporalAPIKey: "key-1", TemporalAPIKeyFile: path}).temporalConnection()
	if err != nil || conn.TLS == nil || creds == nil {
		t.Fatalf("an API key file: %+v, %v, %v; want TLS and credentials", conn, creds, err)
	}
}
