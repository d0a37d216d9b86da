// Package store keeps profiled runs in SQLite (modernc.org/sqlite, pure Go;
// the embedded default for one machine) or PostgreSQL (jackc/pgx through
// database/sql; one database for a team's machines): the schema and its
// migrations, a writer goroutine that batches writes in transactions so
// inference never waits on disk, history queries, deletion with everything
// a run owns, runs copied from other databases (push), the machines runs
// came from, a team server's tokens, and exports (JSON, CSV, Perfetto
// trace). Both back ends run the same queries; dialect.go holds the few
// differences.
//
// Durability: SQLite runs in WAL mode with synchronous=FULL, and a run's
// rows and its "completed" status are written in one transaction, so a
// completed run survives a crash of the writing process. Every store that
// writes registers an instance for its lifetime (a lock file beside a
// SQLite database; an advisory lock and a heartbeat in PostgreSQL, see
// instance_pg.go); a run left queued or running by an instance that is gone
// is marked "interrupted" the next time the database is opened (or reaped).
// A run whose record cannot be written (a full disk) is marked "failed"
// with the reason.
//
// Commands that only read use OpenReadOnly, which never creates or writes
// the database (SQLite may still keep its -wal/-shm files beside an existing
// one; PostgreSQL sessions are read-only). A database that cannot be written still opens read-write: Problem
// says why runs cannot be stored, and writes fail with ErrNotWritable.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"energyprofiler/backend/profiler"
)

// ErrNotFound is returned for a run id that is not stored.
var ErrNotFound = errors.New("run not found")

// ErrNotWritable wraps every failure to write the database because it is
// read-only, its disk is full or its file system failed: runs cannot be
// stored until that is fixed.
var ErrNotWritable = errors.New("the run database cannot be written")

// ErrNoDatabase is returned by OpenReadOnly when there is no database file.
var ErrNoDatabase = errors.New("no run database")

// ErrOldSchema is returned by OpenReadOnly for a database whose schema is
// older than this program's: opening read-only cannot upgrade it.
var ErrOldSchema = errors.New("the run database's schema is older than this program's")

// Store is an open profiling database. Its methods are safe for concurrent use.
type Store struct {
	db       *db
	path     string // a file, or a postgres:// URL
	owner    owner
	live     liveness
	readOnly bool
	unlock   func()

	mu      sync.Mutex
	queue   []job
	wake    chan struct{}
	closing bool
	done    chan struct{}
	err     error // first asynchronous write error, reported by Flush
	problem error // why runs cannot be stored now; nil when they can
}

// owner identifies the store that wrote a run, for telling live runs from
// orphans: its instance (a lock file held while it is open), and for rows
// written before instances existed, its host and PID.
type owner struct {
	host     string
	pid      int
	instance string
}

type job struct {
	name string
	fn   func(ctx context.Context, tx *Tx) error
	// failed, when set, records in a much smaller write that fn could not
	// be written (the run's terminal state), so a full disk does not leave
	// a run "running" forever.
	failed func(ctx context.Context, tx *Tx, cause error) error
	done   chan error // nil for fire-and-forget
}

// DefaultPath returns the database path in the user's data directory:
// ~/Library/Application Support/EnergyProfiler/profiling.db on macOS,
// $XDG_DATA_HOME/energyprofiler/profiling.db (or ~/.local/share/…) on Linux.
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory for the database (pass --db PATH): %w", err)
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "EnergyProfiler", "profiling.db"), nil
	case "windows":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the data directory for the database (pass --db PATH): %w", err)
		}
		return filepath.Join(dir, "EnergyProfiler", "profiling.db"), nil
	default:
		if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
			return filepath.Join(x, "energyprofiler", "profiling.db"), nil
		}
		return filepath.Join(home, ".local", "share", "energyprofiler", "profiling.db"), nil
	}
}

// EnvDB names the environment variable that may hold the database
// (a file or a postgres:// URL) where --db is not given.
const EnvDB = "ENERGYPROFILER_DB"

// Location returns where the database is: flag when set, else $ENERGYPROFILER_DB,
// else DefaultPath().
func Location(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv(EnvDB); env != "" {
		return env, nil
	}
	return DefaultPath()
}

// Open opens the database at path (a file, created if needed, or a
// postgres:// URL) for reading and writing: it migrates the schema,
// registers this store's instance, marks runs left queued or running by
// dead instances as "interrupted", and starts the writer. A database that
// cannot be written (read-only, disk full) still opens for reading; Problem
// says why runs cannot be stored.
func Open(path string) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the database folder: %w", err)
	}
	dsn := path + "?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_synchronous=FULL&_txlock=immediate&_pragma=cache_size(-32768)"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(4)
	db := &db{DB: sqldb, d: sqliteDialect}
	s := newStore(db, path, fileLiveness{path})
	ctx := context.Background()
	if err := migrate(ctx, db); err != nil {
		db.Close()
		err = s.writeFailure(err)
		if errors.Is(err, ErrNotWritable) {
			// A read-only file or folder, or a full disk: still open it
			// for reading, saying why runs cannot be stored.
			ro, rerr := OpenReadOnly(path)
			if rerr == nil {
				ro.problem = fmt.Errorf("%s %s, so runs cannot be stored (%w); %s, or pass another --db", path, whyNotWritable(err), err, fixNotWritable(err))
				return ro, nil
			}
		}
		return nil, fmt.Errorf("database %s: %w (if the file is damaged, move it aside and a new one will be created)", path, err)
	}
	if s.unlock, err = s.live.lock(ctx, s.owner); err != nil {
		s.problem = fmt.Errorf("%w: %s: %v", ErrNotWritable, path, err)
	} else if err := s.probeWrite(ctx); err != nil {
		s.problem = fmt.Errorf("%s %s, so runs cannot be stored (%w); %s, or pass another --db", path, whyNotWritable(err), err, fixNotWritable(err))
	} else if err := s.markInterrupted(ctx); err != nil {
		s.problem = fmt.Errorf("%s: mark interrupted runs: %w", path, s.writeFailure(err))
	}
	go s.writer()
	return s, nil
}

func newStore(db *db, path string, live liveness) *Store {
	host, _ := os.Hostname()
	return &Store{db: db, path: path, live: live, owner: owner{host: host, pid: os.Getpid(), instance: uuid.NewString()},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// openPostgres opens a PostgreSQL database for reading and writing. The
// database must exist (a team creates it once, see the README); the schema
// is created in it. Its instance is registered in the database, so stores
// on other machines can tell whether its runs are still going.
func openPostgres(url string) (*Store, error) {
	db, err := connectPostgres(url, false)
	if err != nil {
		return nil, err
	}
	s := newStore(db, url, pgLiveness{db})
	ctx := context.Background()
	if err := migrate(ctx, db); err != nil {
		db.Close()
		if err = s.writeFailure(err); errors.Is(err, ErrNotWritable) {
			ro, rerr := OpenReadOnly(url)
			if rerr == nil {
				ro.problem = fmt.Errorf("%s %s, so runs cannot be stored (%w); %s, or pass another --db", redact(url), whyNotWritable(err), err, fixNotWritable(err))
				return ro, nil
			}
		}
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	if s.unlock, err = s.live.lock(ctx, s.owner); err != nil {
		err = s.writeFailure(err)
		s.problem = fmt.Errorf("%s %s, so runs cannot be stored (%w); %s", redact(url), whyNotWritable(err), err, fixNotWritable(err))
		s.unlock = nil
	} else if err := s.markInterrupted(ctx); err != nil {
		s.problem = fmt.Errorf("%s: mark interrupted runs: %w", redact(url), s.writeFailure(err))
	}
	go s.writer()
	return s, nil
}

// connectPostgres opens a connection pool and checks that the server
// answers; readOnly makes every session read-only.
func connectPostgres(url string, readOnly bool) (*db, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("--db %s: %w (use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)", redact(url), err)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "energyprofiler"
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	sqldb := stdlib.OpenDB(*cfg)
	// One connection more than the writer and readers need: the instance's
	// lock connection.
	sqldb.SetMaxOpenConns(9)
	sqldb.SetMaxIdleConns(9)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w (is the server running and the database created? see the README's Teams section)", redact(url), err)
	}
	return &db{DB: sqldb, d: postgresDialect}, nil
}

// redact hides the password of a database URL (a file path is unchanged).
func redact(location string) string {
	if !IsPostgres(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// OpenReadOnly opens an existing database for reading only: it creates no
// file or folder, writes nothing (no migration, no marking of orphans) and
// refuses writes with ErrNotWritable. A missing file gives ErrNoDatabase.
func OpenReadOnly(path string) (*Store, error) {
	if IsPostgres(path) {
		return openPostgresReadOnly(path)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: nothing has been profiled with this database yet (profile a run first, or pass the right --db)", ErrNoDatabase, path)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db, err := openRO(path, false)
	if err != nil {
		// SQLite reads a WAL database through its -shm file; where that
		// cannot be created (a read-only folder or mount), nothing can
		// write the database either, so read it as immutable.
		if db, err = openRO(path, true); err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	if err := readableSchema(db, path); err != nil {
		db.Close()
		return nil, err
	}
	return readOnlyStore(db, path), nil
}

// readableSchema checks that a database opened read-only has this
// program's schema: reading cannot upgrade an older one (written by an
// older version, or being created or upgraded by another process at this
// moment), and its queries would fail on the missing columns.
func readableSchema(db *db, path string) error {
	v, err := schemaVersion(context.Background(), db, db.d)
	if err != nil {
		return fmt.Errorf("database %s: %w", redact(path), err)
	}
	if v == 0 {
		return fmt.Errorf("%w at %s: nothing has been stored in this database yet (profile or push a run first, or pass the right --db)", ErrNoDatabase, redact(path))
	}
	if want := len(migrations()); v < want {
		return fmt.Errorf("%w: %s has schema version %d, this energyprofiler reads version %d; a command that writes (profile, serve, delete) will upgrade it — or another process is creating or upgrading it right now: try again in a moment", ErrOldSchema, redact(path), v, want)
	}
	return nil
}

func readOnlyStore(db *db, path string) *Store {
	s := &Store{db: db, path: path, readOnly: true, closing: true, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.problem = fmt.Errorf("%w: %s is open read-only", ErrNotWritable, redact(path))
	close(s.done)
	return s
}

// openPostgresReadOnly opens a PostgreSQL database in read-only sessions.
// A database without the schema gives ErrNoDatabase.
func openPostgresReadOnly(url string) (*Store, error) {
	db, err := connectPostgres(url, true)
	if err != nil {
		return nil, err
	}
	if err := readableSchema(db, url); err != nil {
		db.Close()
		return nil, err
	}
	return readOnlyStore(db, url), nil
}

func openRO(path string, immutable bool) (*db, error) {
	q := "mode=ro&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	if immutable {
		q += "&immutable=1"
	}
	// A "file:" URL needs an absolute path: "file://p.db" would name a
	// host p.db, which SQLite refuses ("invalid uri authority").
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q}
	sqldb, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(4)
	db := &db{DB: sqldb, d: sqliteDialect}
	if _, err := schemaVersion(context.Background(), db, db.d); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the database file's path, or its URL without the password.
func (s *Store) Path() string { return redact(s.path) }

// Shared reports whether the database is a server that stores on other
// machines may write too (PostgreSQL), rather than a file of this machine.
func (s *Store) Shared() bool { return s.db.d == postgresDialect }

// Dialect names the back end: "SQLite" or "PostgreSQL".
func (s *Store) Dialect() string { return s.db.d.String() }

// Problem says why runs cannot be stored now (the database is read-only,
// its disk is full, ...), or nil when they can. It wraps ErrNotWritable.
func (s *Store) Problem() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problem
}

// probeWrite checks that a SQLite database can be written, with a write
// that changes nothing and is rolled back. (A PostgreSQL store's instance
// registration is a real write, so it needs no probe.)
func (s *Store) probeWrite(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.writeFailure(err)
	}
	defer tx.Rollback()
	v, err := schemaVersion(ctx, s.db, s.db.d)
	if err != nil {
		return err
	}
	if err := setVersion(ctx, tx, v); err != nil {
		return s.writeFailure(err)
	}
	return nil
}

// writeFailure marks err as ErrNotWritable when the database says it is
// read-only, full, failing or unreachable (not for constraint or logic
// errors).
func (s *Store) writeFailure(err error) error {
	if err == nil || errors.Is(err, ErrNotWritable) {
		return err
	}
	if s.db.d.notWritable(err) {
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	}
	return err
}

// whyNotWritable and fixNotWritable explain an ErrNotWritable for people.
func whyNotWritable(err error) string {
	code := pgCode(err)
	switch {
	case sqliteCode(err) == 13:
		return "is on a full disk"
	case code == "42501":
		return "may not be written by this database user"
	case strings.HasPrefix(code, "53"):
		return "is on a server that is out of disk or memory"
	case code == "25006":
		return "is read-only"
	case code != "" || unreachable(err):
		return "cannot be reached"
	}
	return "is read-only"
}

// unreachable reports whether err is a failure to talk to a database server.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne)
}

func fixNotWritable(err error) string {
	code := pgCode(err)
	switch {
	case sqliteCode(err) == 13:
		return "free disk space"
	case code == "42501":
		return "GRANT the user INSERT, UPDATE and DELETE on the database's tables"
	case strings.HasPrefix(code, "53"):
		return "free space on the database server"
	case code == "25006":
		return "point --db at the primary server, not a read-only replica"
	}
	if code != "" || unreachable(err) {
		return "check that the PostgreSQL server is running and reachable"
	}
	return "make it and its folder writable"
}

func sqliteCode(err error) int {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code() & 0xff
	}
	return 0
}

// Reap marks runs left queued or running by stores that are gone as
// "interrupted". Open does it; a long-running server may do it again.
func (s *Store) Reap(ctx context.Context) error {
	if s.readOnly {
		return s.problem
	}
	return s.do(ctx, "mark interrupted runs", func(ctx context.Context, tx *Tx) error {
		return markInterruptedTx(ctx, tx, s.live, s.owner)
	})
}

// markInterrupted turns "queued" and "running" runs into "interrupted"
// unless the store that owns them is still open (a server profiling while
// the CLI opens the same database).
func (s *Store) markInterrupted(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := markInterruptedTx(ctx, tx, s.live, s.owner); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func markInterruptedTx(ctx context.Context, tx *Tx, live liveness, self owner) error {
	rows, err := tx.QueryContext(ctx, `SELECT rid, status, owner_host, owner_pid, owner_instance FROM runs WHERE status IN ('running', 'queued')`)
	if err != nil {
		return err
	}
	type orphan struct {
		rid    int64
		status string
		owner  owner
	}
	var open []orphan
	for rows.Next() {
		var o orphan
		var pid int64
		if err := rows.Scan(&o.rid, &o.status, &o.owner.host, &pid, &o.owner.instance); err != nil {
			rows.Close()
			return err
		}
		o.owner.pid = int(pid)
		open = append(open, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var dead []orphan
	seen := map[string]bool{}
	for _, o := range open {
		alive, known := seen[o.owner.instance]
		if !known || o.owner.instance == "" {
			if alive, err = self.sees(ctx, tx, live, o.owner); err != nil {
				return err
			}
			seen[o.owner.instance] = alive
		}
		if !alive {
			dead = append(dead, o)
		}
	}
	if _, ok := live.(pgLiveness); ok {
		if err := forgetStaleInstances(ctx, tx); err != nil {
			return err
		}
	}
	finished := time.Now().UnixMilli()
	for _, o := range dead {
		reason := "the process stopped while the run was in progress"
		if o.status == string(profiler.StatusQueued) {
			reason = "the server stopped before the run started"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'interrupted', error = ?, finished_at = COALESCE(finished_at, ?) WHERE rid = ? AND status = ?`,
			reason, finished, o.rid, o.status); err != nil {
			return err
		}
	}
	return nil
}

// sees reports whether the store that wrote a run as w is still open.
func (self owner) sees(ctx context.Context, tx *Tx, live liveness, w owner) (bool, error) {
	if w.instance != "" {
		if w.instance == self.instance {
			return true, nil
		}
		return live.alive(ctx, tx, w.instance)
	}
	// Rows written before stores had instances: the PID rule.
	return w.host == self.host && (w.pid == self.pid || processAlive(w.pid)), nil
}

// enqueue hands a write to the writer goroutine. It never blocks.
func (s *Store) enqueue(j job) {
	s.mu.Lock()
	if s.closing {
		err := errors.New("store is closed")
		if s.readOnly {
			err = s.problem
		} else if s.err == nil {
			s.err = fmt.Errorf("%s: %w", j.name, err)
		}
		s.mu.Unlock()
		if j.done != nil {
			j.done <- err
		}
		return
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writer runs queued jobs, all that are waiting in one transaction, each
// inside its own savepoint so one failing job does not undo the others.
func (s *Store) writer() {
	defer close(s.done)
	ctx := context.Background()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		closing := s.closing
		s.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			<-s.wake
			continue
		}
		var results []error
		var err error
		// A batch PostgreSQL aborted to break a deadlock with another
		// server's writes is simply run again.
		for try := 0; ; try++ {
			results, err = s.runBatch(ctx, batch)
			if err == nil || try == 4 || !s.db.d.retryable(err) {
				break
			}
			time.Sleep(time.Duration(try+1) * 20 * time.Millisecond)
		}
		if err != nil {
			err = s.writeFailure(err)
			// The whole batch is lost: record what failed in writes of
			// their own, each small enough to have a chance.
			for _, j := range batch {
				if j.failed != nil {
					_ = s.single(ctx, func(ctx context.Context, tx *Tx) error { return j.failed(ctx, tx, err) })
				}
			}
		}
		for i, j := range batch {
			e := results[i]
			if err != nil {
				e = fmt.Errorf("%s: %w", j.name, err)
			}
			s.mu.Lock()
			if e != nil && s.err == nil {
				s.err = e
			}
			switch {
			case errors.Is(e, ErrNotWritable):
				s.problem = fmt.Errorf("%s: %w", redact(s.path), e)
			case e == nil && err == nil && errors.Is(s.problem, ErrNotWritable) && s.unlock != nil:
				s.problem = nil // a write went through: the disk has room again
			}
			s.mu.Unlock()
			if j.done != nil {
				j.done <- e
			}
		}
	}
}

// runBatch runs a batch of jobs in one transaction, each inside its own
// savepoint so one failing job does not undo the others. results[i] is job
// i's own error; err is the transaction's.
func (s *Store) runBatch(ctx context.Context, batch []job) (results []error, err error) {
	results = make([]error, len(batch))
	err = func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i, j := range batch {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
				tx.Rollback()
				return err
			}
			if err := j.fn(ctx, tx); err != nil {
				results[i] = fmt.Errorf("%s: %w", j.name, s.writeFailure(err))
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO job"); rerr != nil {
					// The job's error undid the whole transaction (SQLite
					// does that on a full disk): it is the cause.
					tx.Rollback()
					return err
				}
				if j.failed != nil && j.failed(ctx, tx, err) != nil {
					if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
						tx.Rollback()
						return err
					}
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
	}()
	return results, err
}

// single runs fn in a transaction of its own.
func (s *Store) single(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// do runs fn on the writer and waits for it.
func (s *Store) do(ctx context.Context, name string, fn func(ctx context.Context, tx *Tx) error) error {
	done := make(chan error, 1)
	s.enqueue(job{name: name, fn: fn, done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every write queued so far is on disk and returns the
// first asynchronous write error seen (then forgets it).
func (s *Store) Flush(ctx context.Context) error {
	if err := s.do(ctx, "flush", func(context.Context, *Tx) error { return nil }); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}

// Close finishes queued writes and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if s.readOnly {
		return s.db.Close()
	}
	if already {
		return nil
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
	s.mu.Lock()
	werr := s.err
	s.mu.Unlock()
	if s.unlock != nil {
		s.unlock() // after the last write: the instance's runs are final now
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return werr
}

// RunStarted implements profiler.Recorder: it queues the run's row as running.
func (s *Store) RunStarted(info profiler.RunInfo) {
	s.enqueue(job{name: "store run " + info.ID, fn: func(ctx context.Context, tx *Tx) error {
		_, err := upsertRun(ctx, tx, info, nil, s.owner)
		return err
	}})
}

// RunEnding queues a stopped run's terminal status and reason ahead of its
// record (see profiler's endingRecorder), so a process that exits before
// the record is stored leaves the run cancelled or failed, not interrupted.
func (s *Store) RunEnding(info profiler.RunInfo) {
	s.enqueue(job{name: "store end of run " + info.ID, fn: func(ctx context.Context, tx *Tx) error {
		_, err := upsertRun(ctx, tx, info, nil, s.owner)
		return err
	}})
}

// RunFinished implements profiler.Recorder: it queues the whole record. If
// the record cannot be written, the run is marked failed with the reason.
func (s *Store) RunFinished(rec *profiler.Record) {
	s.enqueue(job{name: "store run " + rec.Run.ID,
		fn: func(ctx context.Context, tx *Tx) error {
			return saveRecord(ctx, tx, rec, s.owner)
		},
		failed: func(ctx context.Context, tx *Tx, cause error) error {
			info := rec.Run
			info.Status = profiler.StatusFailed
			info.Error = fmt.Sprintf("the run ended (%s) but its measurements could not be stored: %v", rec.Run.Status, cause)
			_, err := upsertRun(ctx, tx, info, nil, s.owner)
			return err
		}})
}

// Save stores a whole record and waits until it is committed.
func (s *Store) Save(ctx context.Context, rec *profiler.Record) error {
	return s.do(ctx, "store run "+rec.Run.ID, func(ctx context.Context, tx *Tx) error {
		return saveRecord(ctx, tx, rec, s.owner)
	})
}

// Queued stores a run as queued and waits until it is committed, so a run
// that was accepted can always be found. info needs the ID, the creation
// time and what was asked (model, prompt, settings, tags). An ID already
// stored is an error.
func (s *Store) Queued(ctx context.Context, info profiler.RunInfo) error {
	info.Status = profiler.StatusQueued
	return s.do(ctx, "store queued run "+info.ID, func(ctx context.Context, tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, info.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("run %s is already stored", info.ID)
		}
		_, err := upsertRun(ctx, tx, info, nil, s.owner)
		return err
	})
}

// EndQueued gives a run that never started (cancelled while queued, a model
// that failed to load, a server shutting down) its terminal status and
// reason. A run that started is left alone: the profiler records its end.
func (s *Store) EndQueued(ctx context.Context, id string, status profiler.Status, reason string) error {
	return s.do(ctx, "end queued run "+id, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status = 'queued'`,
			string(status), reason, time.Now().UnixMilli(), id)
		return err
	})
}

// Delete removes a run and everything it owns.
func (s *Store) Delete(ctx context.Context, id string) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("delete run %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s.do(ctx, "delete run "+id, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil
	})
}

// Check looks for damage and returns the problems found (none: ok). SQLite
// runs PRAGMA integrity_check over every page; PostgreSQL keeps its own
// pages whole, so there only the store's own consistency is checked (every
// run has its details row). CheckName says which check ran.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	if s.db.d == sqliteDialect {
		rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
		if err != nil {
			return nil, fmt.Errorf("integrity check: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return nil, err
			}
			if line != "ok" {
				problems = append(problems, line)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return problems, nil
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE NOT EXISTS (SELECT 1 FROM run_details WHERE run_rid = runs.rid)`).Scan(&n); err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	if n > 0 {
		problems = append(problems, fmt.Sprintf("%d runs have no details row", n))
	}
	return problems, nil
}

// CheckName says what Check checks, for people.
func (s *Store) CheckName() string {
	if s.db.d == sqliteDialect {
		return "PRAGMA integrity_check"
	}
	return "the run consistency check"
}
