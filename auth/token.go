package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// DevKeyFile and DevJWKSFile are the names of the local signing key and its
// JWKS that GenerateKey writes.
const (
	DevKeyFile  = "auth-signing-key.pem"
	DevJWKSFile = "auth-jwks.json"
)

// GenerateKey writes a new Ed25519 signing key (PEM, mode 0600) and the JWKS
// that verifies it into dir, and returns their paths: the local issuer of
// the dev stack and the tests.
func GenerateKey(dir string) (keyFile, jwksFile string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	kid := "novaflow-dev-" + rand.Text()[:12]
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		ALG: jwkset.AlgEdDSA, KID: kid, USE: jwkset.UseSig}})
	if err != nil {
		return "", "", fmt.Errorf("JWK of the dev key: %w", err)
	}
	set, err := json.Marshal(map[string]any{"keys": []any{jwk.Marshal()}})
	if err != nil {
		return "", "", err
	}
	keyFile, jwksFile = filepath.Join(dir, DevKeyFile), filepath.Join(dir, DevJWKSFile)
	block := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"kid": kid}, Bytes: der})
	if err := os.WriteFile(keyFile, block, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(jwksFile, set, 0o644); err != nil {
		return "", "", err
	}
	return keyFile, jwksFile, nil
}

// Claims are what Issue puts in a token.
type Claims struct {
	Issuer   string
	Audience string
	// Subject is the user (sub).
	Subject string
	// ProjectID goes in claim project_id.
	ProjectID string
	// Roles go in claim roles.
	Roles []string
	// TTL is the token's lifetime from now; a negative one makes an
	// expired token (for tests).
	TTL time.Duration
}

// Issue signs a token with the key of keyFile (as GenerateKey writes it):
// the local issuer of `novaflow auth token` and `novaflow dev --auth`.
func Issue(keyFile string, c Claims) (string, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("signing key %s: no PEM block", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return "", fmt.Errorf("signing key %s: not a signing key", keyFile)
	}
	if _, ok := signer.(ed25519.PrivateKey); !ok {
		return "", errors.New("signing key: want an Ed25519 key (GenerateKey)")
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss":        c.Issuer,
		"aud":        c.Audience,
		"sub":        c.Subject,
		"iat":        now.Unix(),
		"nbf":        now.Add(-time.Minute).Unix(),
		"exp":        now.Add(c.TTL).Unix(),
		"project_id": c.ProjectID,
		"roles":      c.Roles,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = block.Headers["kid"]
	return t.SignedString(signer)
}

type tokenKey struct{}

// WithToken returns ctx carrying token: calls made with ctx (rpc.Client,
// workflows started through a client with Propagator) present it.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the token ctx carries, "" when none.
func TokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}
