package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
)

// VerifierConfig says which tokens a Verifier accepts and how their claims
// map to credentials.
type VerifierConfig struct {
	// JWKS is the issuer's key set: a file (read again when it changes), or
	// an https:// URL (fetched at start, again every JWKSRefreshInterval).
	JWKS string
	// Issuer must equal the token's iss.
	Issuer string
	// Audience must be among the token's aud.
	Audience string
	// UserClaim, ProjectClaim and RolesClaim name the claims of the user,
	// its project and its roles; a dotted name reaches into an object
	// (realm_access.roles). Defaults: sub, project_id, roles.
	UserClaim, ProjectClaim, RolesClaim string
	// Leeway is the clock skew allowed on exp and nbf; default 30 s.
	Leeway time.Duration
	// Logger is told when the key set cannot be read again (a broken edit
	// of the file, an unreachable URL): the last good set stays in use.
	// Default: slog.Default().
	Logger *slog.Logger
	// HTTPClient fetches a URL's key set (its CAs, a proxy); default
	// http.DefaultClient.
	HTTPClient *http.Client
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	keys   jwt.Keyfunc
	parser *jwt.Parser
	// opts are the parser's options, for a parser that judges a token at
	// another time (VerifyEntered).
	opts []jwt.ParserOption

	// cache holds the credentials of tokens verified lately, until they
	// expire: a caller's token is verified once, not at each of its calls
	// (a signature check is ~50-300 us).
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	creds policy.Credentials
	exp   time.Time
}

// maxCached bounds the cache; when full it is emptied.
const maxCached = 4096

// Algorithms are the signature algorithms a token may use (never "none", no
// HMAC: a JWKS holds public keys).
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// NewVerifier loads the key set of cfg. A missing issuer, audience or key set
// is an error naming it.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.JWKS == "":
		return nil, errors.New("no JWKS (a file or an https:// URL of the issuer's keys)")
	case cfg.Issuer == "":
		return nil, errors.New("no issuer")
	case cfg.Audience == "":
		return nil, errors.New("no audience")
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.ProjectClaim == "" {
		cfg.ProjectClaim = "project_id"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var keys jwt.Keyfunc
	var err error
	switch {
	case IsHTTPURL(cfg.JWKS):
		return nil, fmt.Errorf("JWKS %s: a key set fetched over plain http:// can be swapped by anyone on the path, who can then forge any token: use an https:// URL or a file", cfg.JWKS)
	case isHTTPSURL(cfg.JWKS):
		keys, err = urlKeys(ctx, cfg)
	default:
		keys, err = openKeyFile(cfg.JWKS, cfg.Logger)
	}
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", cfg.JWKS, err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	return &Verifier{cfg: cfg, keys: keys, parser: jwt.NewParser(opts...), opts: opts}, nil
}

// Verify checks token and returns its credentials. A refused token is an
// Unauthenticated *managers.Error saying why (expired, wrong audience, bad
// signature...), never quoting the token.
func (v *Verifier) Verify(token string) (policy.Credentials, error) {
	c, _, err := v.verify(token)
	return c, err
}

// verify is Verify, and says whether the token was refused only for its
// expiry.
func (v *Verifier) verify(token string) (c policy.Credentials, expired bool, err error) {
	if token == "" {
		return policy.Credentials{}, false, unauthenticated("the call carries no token: set NOVAFLOW_TOKEN, or from the temporal CLI add --memo 'NovaflowToken=\"<token>\"' (--api-key <token> on novaflow's Temporal server with its gate on)")
	}
	now := time.Now()
	v.mu.Lock()
	hit, ok := v.cache[token]
	v.mu.Unlock()
	if ok && now.Before(hit.exp) {
		return hit.creds, false, nil
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keys); err != nil {
		return policy.Credentials{}, expiredOnly(err), unauthenticated("token refused: %s", reason(err))
	}
	c = v.credentials(claims)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		v.mu.Lock()
		if v.cache == nil || len(v.cache) >= maxCached {
			v.cache = map[string]cached{}
		}
		// Kept until exp, never past it (the parser's leeway is not granted
		// again), and at most a minute: a JWKS without the key refuses it
		// again soon after.
		v.cache[token] = cached{creds: c, exp: minTime(exp.Time, now.Add(time.Minute))}
		v.mu.Unlock()
	}
	return c, false, nil
}

// expiredOnly reports whether jwt refused a token for its expiry alone: its
// signature verified, and every other claim passed.
func expiredOnly(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// credentials maps verified claims to credentials.
func (v *Verifier) credentials(claims jwt.MapClaims) policy.Credentials {
	sub, _ := claims["sub"].(string)
	c := policy.Credentials{Subject: sub, UserID: str(lookup(claims, v.cfg.UserClaim)), ProjectID: str(lookup(claims, v.cfg.ProjectClaim))}
	switch r := lookup(claims, v.cfg.RolesClaim).(type) {
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok {
				c.Roles = append(c.Roles, s)
			}
		}
	case string:
		c.Roles = strings.Fields(strings.ReplaceAll(r, ",", " "))
	}
	return c
}

func unauthenticated(format string, args ...any) error {
	return &managers.Error{Type: policy.UnauthenticatedType, Message: fmt.Sprintf(format, args...)}
}

// reason says why jwt refused a token, in a few words.
func reason(err error) string {
	for _, r := range []struct {
		err  error
		text string
	}{
		{jwt.ErrTokenExpired, "expired"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenNotValidYet, "not valid yet"},
		{jwt.ErrTokenSignatureInvalid, "bad signature"},
		{jwt.ErrTokenUnverifiable, "no key of the JWKS verifies it"},
		{jwt.ErrTokenMalformed, "malformed"},
		{jwt.ErrTokenRequiredClaimMissing, "a required claim is missing"},
	} {
		if errors.Is(err, r.err) {
			return r.text + ": " + err.Error()
		}
	}
	return err.Error()
}

func lookup(claims jwt.MapClaims, path string) any {
	var cur any = map[string]any(claims)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
