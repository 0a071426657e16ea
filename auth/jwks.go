package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// JWKSReloadInterval is how often a Verifier whose key set is a file looks
// at the file for a change, at most (at the first token after it).
const JWKSReloadInterval = 5 * time.Second

// JWKSRefreshInterval is how often a Verifier whose key set is an https://
// URL fetches it again. A token naming a key id the set lacks fetches it at
// once (at most every 5 minutes, keyfunc's limit).
const JWKSRefreshInterval = 5 * time.Minute

// jwksFetchTimeout bounds a fetch of a URL's key set.
const jwksFetchTimeout = 15 * time.Second

// IsHTTPURL reports whether s is a plain http:// URL, which a key set may
// not be: whoever is on the path could swap the keys and forge tokens.
func IsHTTPURL(s string) bool {
	return len(s) >= 7 && strings.EqualFold(s[:7], "http://")
}

func isHTTPSURL(s string) bool {
	return len(s) >= 8 && strings.EqualFold(s[:8], "https://")
}

// urlKeys fetches the key set of the https:// URL of cfg now (an unreachable
// URL or a body that is no key set is an error: the service does not start
// to refuse every call), and again every JWKSRefreshInterval until ctx ends;
// a failed refresh is logged and the keys fetched last stay in use.
func urlKeys(ctx context.Context, cfg VerifierConfig) (jwt.Keyfunc, error) {
	firstFails := false
	logger := cfg.Logger
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKS}, keyfunc.Override{
		Client:                    cfg.HTTPClient,
		HTTPTimeout:               jwksFetchTimeout,
		NoErrorReturnFirstHTTPReq: &firstFails,
		RefreshInterval:           JWKSRefreshInterval,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				logger.Warn("authorization: fetching the JWKS again failed; the keys fetched last stay in use", "url", u, "error", oneLine(err))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching it failed: %s", oneLine(err))
	}
	all, err := k.Storage().KeyReadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading its keys: %s", oneLine(err))
	}
	if len(all) == 0 {
		return nil, errors.New("it holds no key this verifier can use")
	}
	return k.Keyfunc, nil
}

// oneLine is err's message on one line: the last layers of jwkset's errors
// are joined with newlines and say nothing more.
func oneLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// loadKeySet reads a JWKS file.
func loadKeySet(path string) (keyfunc.Keyfunc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := keyfunc.NewJWKSetJSON(b)
	if err != nil {
		return nil, errors.New(oneLine(err))
	}
	all, err := k.Storage().KeyReadAll(context.Background())
	if err != nil {
		return nil, errors.New(oneLine(err))
	}
	if len(all) == 0 {
		return nil, errors.New("it holds no key")
	}
	return k, nil
}

// keyFile is a JWKS file, read again when it changes (its size or
// modification time; a Kubernetes Secret's update, an edit), looked at at
// most every JWKSReloadInterval, and at once when a token names a key id
// the set lacks: an issuer's key rotation needs no restart, and a key
// removed from the file stops verifying. A change that does not read as a
// key set is logged (once per change) and the last good set stays in use.
// The same approach as the payload codec's key ring (codec.Open).
type keyFile struct {
	path   string
	logger *slog.Logger

	set     atomic.Pointer[keyfunc.Keyfunc]
	checked atomic.Int64 // when the file was last looked at (Unix ns)

	mu   sync.Mutex
	size int64 // the file's size and modification time when last read
	mod  time.Time
}

// openKeyFile reads the JWKS file at path; a file that cannot be read or
// holds no key is an error.
func openKeyFile(path string, logger *slog.Logger) (jwt.Keyfunc, error) {
	// Stat, then read: a file swapped in between is read with the old
	// file's size and time recorded, and the next look sees the change.
	f := &keyFile{path: path, logger: logger}
	if st, err := os.Stat(path); err == nil {
		f.size, f.mod = st.Size(), st.ModTime()
	}
	k, err := loadKeySet(path)
	if err != nil {
		return nil, err
	}
	f.set.Store(&k)
	f.checked.Store(time.Now().UnixNano())
	return f.keyfunc, nil
}

// keyfunc is the jwt.Keyfunc of the file's current set.
func (f *keyFile) keyfunc(t *jwt.Token) (any, error) {
	f.refresh(false)
	key, err := (*f.set.Load()).Keyfunc(t)
	if err != nil && errors.Is(err, jwkset.ErrKeyNotFound) && f.refresh(true) {
		key, err = (*f.set.Load()).Keyfunc(t)
	}
	return key, err
}

// refresh reads the file again when it changed since it was last read,
// looking at most every JWKSReloadInterval unless now. It reports whether
// a new set is in use.
func (f *keyFile) refresh(now bool) bool {
	if !now && time.Since(time.Unix(0, f.checked.Load())) < JWKSReloadInterval {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked.Store(time.Now().UnixNano())
	st, err := os.Stat(f.path)
	if err != nil || st.Size() == f.size && st.ModTime().Equal(f.mod) {
		return false // gone for a moment (a Secret's swap), or unchanged
	}
	f.size, f.mod = st.Size(), st.ModTime()
	k, err := loadKeySet(f.path)
	if err != nil {
		f.logger.Error("authorization: the JWKS file changed but does not read as a key set; the last good set stays in use", "file", f.path, "error", err)
		return false
	}
	f.set.Store(&k)
	f.logger.Info("authorization: JWKS file read again", "file", f.path)
	return true
}
