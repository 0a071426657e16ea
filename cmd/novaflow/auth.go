package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
)

// The local issuer of `novaflow dev --auth` and `novaflow auth token`: a key
// and its JWKS in the dev stack's folder.
const (
	devIssuer       = "novaflow-dev"
	devAudience     = "novaflow"
	devProject      = "dev"
	devUserTTL      = 12 * time.Hour
	devServiceTTL   = 30 * 24 * time.Hour
	devServiceToken = "auth-service-token"
	devUserToken    = "auth-token"
	devPayloadKeys  = "payload-keys.json"
)

// devKeyRing returns the dev stack's payload key ring file in dir (the codec
// package's format, one key of 32 random bytes), made on first use and kept
// after, so that the histories of earlier runs stay readable.
func devKeyRing(dir string) (string, error) {
	path, err := filepath.Abs(filepath.Join(dir, devPayloadKeys))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		if _, err := codec.LoadKeyRing(path); err != nil {
			return "", fmt.Errorf("%s: %w (remove it to make a new key ring; payloads written with it become unreadable)", path, err)
		}
		return path, nil
	}
	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	id := "dev-" + time.Now().UTC().Format("20060102")
	b, err := json.Marshal(map[string]any{"current": id, "keys": map[string]string{id: base64.StdEncoding.EncodeToString(key)}})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	if _, err := codec.LoadKeyRing(path); err != nil {
		return "", err
	}
	return path, nil
}

// devKey returns the dev stack's signing key and JWKS in dir, made on first
// use.
func devKey(dir string) (keyFile, jwksFile string, err error) {
	keyFile, jwksFile = filepath.Join(dir, auth.DevKeyFile), filepath.Join(dir, auth.DevJWKSFile)
	_, kerr := os.Stat(keyFile)
	_, jerr := os.Stat(jwksFile)
	if kerr == nil && jerr == nil {
		return keyFile, jwksFile, nil
	}
	return auth.GenerateKey(dir)
}

// devAuth turns authorization on for the dev stack's services: the local
// issuer's JWKS, a service token (role service) for their own calls, and an
// admin's token of project dev for the shell, which it returns; and the
// payload codec, with a key ring of the stack's folder (devKeyRing).
func devAuth(dir string) (settings []string, userToken string, err error) {
	key, jwks, err := devKey(dir)
	if err != nil {
		return nil, "", fmt.Errorf("dev signing key: %w", err)
	}
	svc, err := auth.Issue(key, auth.Claims{Issuer: devIssuer, Audience: devAudience, Subject: "novaflow-service", Roles: []string{"service"}, TTL: devServiceTTL})
	if err != nil {
		return nil, "", err
	}
	svcFile := filepath.Join(dir, devServiceToken)
	if err := os.WriteFile(svcFile, []byte(svc+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	userToken, err = auth.Issue(key, auth.Claims{Issuer: devIssuer, Audience: devAudience, Subject: os.Getenv("USER"), ProjectID: devProject, Roles: []string{"admin", "member"}, TTL: devUserTTL})
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, devUserToken), []byte(userToken+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	settings = []string{
		"NOVAFLOW_AUTH=true",
		"NOVAFLOW_AUTH_JWKS=" + jwks,
		"NOVAFLOW_AUTH_ISSUER=" + devIssuer,
		"NOVAFLOW_AUTH_AUDIENCE=" + devAudience,
		"NOVAFLOW_TOKEN=",
		"NOVAFLOW_TOKEN_FILE=" + svcFile,
	}
	// The payload codec too, unless the shell names a key ring of its own.
	if os.Getenv("NOVAFLOW_PAYLOAD_KEYS_FILE") == "" {
		keys, err := devKeyRing(dir)
		if err != nil {
			return nil, "", fmt.Errorf("dev payload key ring: %w", err)
		}
		settings = append(settings, "NOVAFLOW_PAYLOAD_KEYS_FILE="+keys)
	}
	return settings, userToken, nil
}

func newAuthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "auth",
		Short:   "Tokens of the dev stack's local issuer (novaflow dev --auth)",
		Example: `  novaflow auth token --user alice`,
	}
	var o struct {
		dir, user, project string
		roles              []string
		ttl                time.Duration
	}
	token := &cobra.Command{
		Use: "token",
		Example: `  novaflow auth token --user alice --project a --role member
  export NOVAFLOW_TOKEN=$(novaflow auth token --user admin --role admin)
  novaflow auth token --user alice -o json`,
		Short: "Print a token of the dev stack's local issuer, for NOVAFLOW_TOKEN or the temporal CLI's --memo NovaflowToken",
		Long: `Print a token signed by the local issuer of novaflow dev --auth (its key is in
the stack's folder): for tests and demonstrations, never production, where an
OIDC provider (Keystone, Dex, Keycloak...) issues the tokens.

  export NOVAFLOW_TOKEN=$(novaflow auth token --user alice --project a --role member)
  temporal workflow execute --task-queue compute --type compute.get_instance_info \
      --input '{"instance_uuid":"..."}' --memo "NovaflowToken=\"$NOVAFLOW_TOKEN\""`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := outputOf(cmd)
			if err != nil {
				return err
			}
			return printToken(cmd.OutOrStdout(), o.dir, out.format, auth.Claims{
				Issuer: devIssuer, Audience: devAudience, Subject: o.user, ProjectID: o.project, Roles: o.roles, TTL: o.ttl})
		},
	}
	token.Flags().StringVar(&o.dir, "dir", stackDir, "folder of the dev stack, which holds the issuer's key")
	token.Flags().StringVar(&o.user, "user", "", "the user (claim sub); required")
	token.Flags().StringVar(&o.project, "project", devProject, "the project (claim project_id)")
	token.Flags().StringSliceVar(&o.roles, "role", []string{"member"}, "a role (claim roles); repeat or separate with commas: admin, member, reader, service")
	token.Flags().DurationVar(&o.ttl, "ttl", time.Hour, "how long the token is valid")
	cmd.AddCommand(token)
	return cmd
}

// printToken prints a token of the local issuer in dir: alone, or with its
// claims for -o json.
func printToken(out io.Writer, dir, output string, c auth.Claims) error {
	switch {
	case c.Subject == "":
		return usagef("--user: required")
	case c.TTL <= 0:
		return usagef("--ttl: must be positive, got %s", c.TTL)
	}
	key := filepath.Join(dir, auth.DevKeyFile)
	if _, err := os.Stat(key); err != nil {
		return fmt.Errorf("--dir: no signing key %s: start novaflow dev --auth in this folder first", key)
	}
	tok, err := auth.Issue(key, c)
	if err != nil {
		return err
	}
	if output == formatJSON || output == formatJSONL {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"token": tok, "issuer": c.Issuer, "audience": c.Audience, "user": c.Subject,
			"project_id": c.ProjectID, "roles": c.Roles, "expires_at": time.Now().Add(c.TTL).UTC().Format(time.RFC3339)})
	}
	_, err = fmt.Fprintln(out, strings.TrimSpace(tok))
	return err
}
