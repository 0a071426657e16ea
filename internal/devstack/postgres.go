package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresReadyTimeout bounds the wait for a started postgres to accept
// connections.
const postgresReadyTimeout = 30 * time.Second

// maxSocketPath keeps the Unix socket path (dir + "/.s.PGSQL.<port>.lock")
// under the sun_path limit of every platform (104 bytes on macOS).
const maxSocketPath = 100

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// DataDir is the cluster's data directory (required). A directory without
	// a cluster is initialized with initdb; an existing cluster is reused.
	DataDir string
	// BinDir holds initdb and postgres; empty means PostgresBinDir().
	BinDir string
	// Host is the address the server listens on; default 127.0.0.1.
	Host string
	// Port is the TCP port; 0 picks a free one.
	Port int
	// Database is created if missing; default "novaflow".
	Database string
	// User is the cluster's superuser (trust authentication); default "novaflow".
	User string
	// Durable keeps PostgreSQL's crash safety. When false (test mode) the
	// server runs with fsync, synchronous_commit and full_page_writes off:
	// much faster, and a machine crash may corrupt the cluster.
	Durable bool
	// Log receives the output of initdb and postgres; nil means the file
	// postgres.log in DataDir.
	Log io.Writer
	// Settings are extra server settings, name=value (max_connections=1000).
	Settings []string
}

// Postgres is a running PostgreSQL server started by StartPostgres.
type Postgres struct {
	url          string
	proc         *process
	logFile      *os.File // nil when PostgresOptions.Log was given
	tmpSocketDir string   // removed at Stop; empty when the socket is in DataDir
	stopOnce     sync.Once
	stopErr      error
}

// StartPostgres starts postgres on opts.DataDir, running initdb first if the
// directory holds no cluster, waits until it accepts connections and creates
// opts.Database if missing. When run as root it runs initdb and postgres as
// the OS user postgres (PostgreSQL refuses root), which must be able to reach
// DataDir. The server gets SIGINT if the calling process dies (Linux); call
// Stop to shut it down.
func StartPostgres(ctx context.Context, opts PostgresOptions) (_ *Postgres, err error) {
	if err := setPostgresDefaults(&opts); err != nil {
		return nil, err
	}
	as, err := postgresRunAs()
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(opts.DataDir, as); err != nil {
		return nil, err
	}
	// The log file goes in DataDir, which initdb wants empty: open it after.
	tail := newTailBuffer(16 << 10)
	initOut, err := initCluster(ctx, opts, as, io.MultiWriter(orDiscard(opts.Log), tail))
	if err != nil {
		return nil, err
	}
	var ownLog *os.File
	if opts.Log == nil {
		if ownLog, err = openLogFile(filepath.Join(opts.DataDir, "postgres.log"), as); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				ownLog.Close()
			}
		}()
		opts.Log = ownLog
		if _, err = ownLog.Write(initOut); err != nil {
			return nil, fmt.Errorf("writing postgres log: %w", err)
		}
	}
	logw := io.MultiWriter(opts.Log, tail)

	if err = checkPostmasterPID(opts.DataDir); err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		if opts.Port, err = FreePort(opts.Host); err != nil {
			return nil, err
		}
	}
	socketDir, tmpSocketDir, err := socketDirFor(opts, as)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && tmpSocketDir != "" {
			os.RemoveAll(tmpSocketDir)
		}
	}()

	args := []string{
		"-D", opts.DataDir,
		"-p", strconv.Itoa(opts.Port),
		"-c", "listen_addresses=" + opts.Host,
		"-k", socketDir,
	}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, kv := range opts.Settings {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(opts.BinDir, exe("postgres")), args...)
	cmd.Dir = opts.DataDir
	cmd.Stdout = logw
	cmd.Stderr = logw
	proc, err := startProcess("postgres", cmd, as)
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		url:          postgresURL(opts.User, opts.Host, opts.Port, opts.Database),
		proc:         proc,
		logFile:      ownLog,
		tmpSocketDir: tmpSocketDir,
	}
	if err = p.waitReady(ctx, opts, tail); err != nil {
		_ = proc.stop()
		return nil, err
	}
	return p, nil
}

// URL returns the connection URL of the database, e.g.
// postgres://novaflow@127.0.0.1:5432/novaflow?sslmode=disable.
func (p *Postgres) URL() string { return p.url }

// Stop shuts the server down with SIGINT (PostgreSQL's fast shutdown: it
// aborts open transactions) and waits for it to exit. Later calls return the
// first call's result.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.proc.stop()
		if p.logFile != nil {
			p.logFile.Close()
		}
		if p.tmpSocketDir != "" {
			os.RemoveAll(p.tmpSocketDir)
		}
	})
	return p.stopErr
}

// setPostgresDefaults validates opts and fills in its defaults.
func setPostgresDefaults(opts *PostgresOptions) error {
	if opts.DataDir == "" {
		return errors.New("starting postgres: PostgresOptions.DataDir is required")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return fmt.Errorf("resolving data directory %s: %w", opts.DataDir, err)
	}
	opts.DataDir = dir
	if opts.BinDir == "" {
		if opts.BinDir, err = PostgresBinDir(); err != nil {
			return err
		}
	} else if !hasPostgresServer(opts.BinDir) {
		return fmt.Errorf("%s does not hold initdb and postgres: %w", opts.BinDir, ErrPostgresNotFound)
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Database == "" {
		opts.Database = "novaflow"
	}
	if opts.User == "" {
		opts.User = "novaflow"
	}
	return nil
}

// prepareDataDir creates the data directory if needed and, when PostgreSQL
// runs as another user, hands the directory to it.
func prepareDataDir(dir string, as *osUser) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if as == nil {
		return nil
	}
	if err := as.checkTraversable(filepath.Dir(dir)); err != nil {
		return err
	}
	return as.chown(dir)
}

// openLogFile opens the server log for appending.
func openLogFile(path string, as *osUser) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening postgres log: %w", err)
	}
	if as != nil {
		if err := as.chown(path); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// initCluster runs initdb when the data directory holds no cluster yet, and
// returns its output, which it also writes to logw.
func initCluster(ctx context.Context, opts PostgresOptions, as *osUser, logw io.Writer) ([]byte, error) {
	if _, err := os.Stat(filepath.Join(opts.DataDir, "PG_VERSION")); err == nil {
		return nil, nil
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(opts.BinDir, exe("initdb")),
		"-D", opts.DataDir,
		"-U", opts.User,
		"--auth=trust",
		"-E", "UTF8",
		// The C locale exists everywhere and sorts the same everywhere.
		"--locale=C",
		"--no-instructions",
	)
	cmd.Dir = opts.DataDir
	cmd.Stdout = io.MultiWriter(logw, &out)
	cmd.Stderr = io.MultiWriter(logw, &out)
	proc, err := startProcess("initdb", cmd, as)
	if err != nil {
		return nil, err
	}
	<-proc.done
	if proc.err != nil {
		return nil, fmt.Errorf("initializing a PostgreSQL cluster in %s with initdb: %w\n%s", opts.DataDir, proc.err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// checkPostmasterPID looks at a postmaster.pid left in the data directory. A
// file naming a running postgres means the cluster is in use; any other is
// left over from a killed server and is removed (postgres would refuse to
// start when its pid now belongs to another process).
func checkPostmasterPID(dataDir string) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && isPostgresProcess(pid) {
		return fmt.Errorf("a PostgreSQL server (pid %d) is already running on %s: stop it or use another data directory (if none runs, remove %s)", pid, dataDir, path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing the stale %s of a server that is gone: %w", path, err)
	}
	return nil
}

// socketDirFor chooses the directory for the server's Unix socket: the data
// directory when the path is short enough, else a new temporary directory.
func socketDirFor(opts PostgresOptions, as *osUser) (dir, tmp string, err error) {
	if len(opts.DataDir)+len("/.s.PGSQL.65535.lock") <= maxSocketPath {
		return opts.DataDir, "", nil
	}
	tmp, err = os.MkdirTemp("", "novaflow-pg-")
	if err != nil {
		return "", "", fmt.Errorf("creating a socket directory: %w", err)
	}
	if as != nil {
		if err := as.chown(tmp); err != nil {
			os.RemoveAll(tmp)
			return "", "", err
		}
	}
	return tmp, tmp, nil
}

// waitReady waits until the server accepts connections, then creates the
// database if missing.
func (p *Postgres) waitReady(ctx context.Context, opts PostgresOptions, tail *tailBuffer) error {
	ctx, cancel := context.WithTimeout(ctx, postgresReadyTimeout)
	defer cancel()
	adminURL := postgresURL(opts.User, opts.Host, opts.Port, "postgres") + "&connect_timeout=5"
	var conn *pgx.Conn
	for {
		var err error
		conn, err = pgx.Connect(ctx, adminURL)
		if err == nil {
			break
		}
		if done, exitErr := p.proc.exited(); done {
			return fmt.Errorf("starting postgres on %s: it exited: %v%s", opts.DataDir, exitErr, logTail("postgres log", tail))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres on %s to accept connections: %w (last error: %v)%s", opts.DataDir, ctx.Err(), err, logTail("postgres log", tail))
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", opts.Database).Scan(&exists); err != nil {
		return fmt.Errorf("looking up database %s: %w", opts.Database, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{opts.Database}.Sanitize()); err != nil {
			return fmt.Errorf("creating database %s: %w", opts.Database, err)
		}
	}
	return nil
}

// postgresURL builds a connection URL without password or TLS.
func postgresURL(user, host string, port int, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CheckPostgresDataDir reports whether PostgreSQL can keep a cluster in dir:
// when running as root the server runs as the OS user postgres, which must be
// able to enter dir's parents. A nil error means StartPostgres can use it.
func CheckPostgresDataDir(dir string) error {
	as, err := postgresRunAs()
	if err != nil || as == nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return as.checkTraversable(filepath.Dir(abs))
}
