// Package store keeps profiled runs in SQLite (modernc.org/sqlite, pure Go):
// the schema and its migrations, a writer goroutine that batches writes in
// transactions so inference never waits on disk, history queries, deletion
// with everything a run owns, and exports (JSON, CSV, Perfetto trace).
//
// Durability: the database runs in WAL mode with synchronous=FULL, and a
// run's rows and its "completed" status are written in one transaction, so a
// completed run survives a crash of the writing process. Every store that
// writes holds a lock file for its lifetime (its instance); a run left
// queued or running by an instance whose lock is gone is marked
// "interrupted" the next time the database is opened. A run whose record
// cannot be written (a full disk) is marked "failed" with the reason.
//
// Commands that only read use OpenReadOnly, which never creates or writes
// the database (SQLite may still keep its -wal/-shm files beside an existing
// one). A database that cannot be written still opens read-write: Problem
// says why runs cannot be stored, and writes fail with ErrNotWritable.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
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

// Store is an open profiling database. Its methods are safe for concurrent use.
type Store struct {
	db       *sql.DB
	path     string
	owner    owner
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
	fn   func(ctx context.Context, tx *sql.Tx) error
	// failed, when set, records in a much smaller write that fn could not
	// be written (the run's terminal state), so a full disk does not leave
	// a run "running" forever.
	failed func(ctx context.Context, tx *sql.Tx, cause error) error
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

// Open opens (creating if needed) the database at path for reading and
// writing: it migrates the schema, takes this store's instance lock, marks
// runs left queued or running by dead instances as "interrupted", and
// starts the writer. A database that cannot be written (read-only, disk
// full) still opens for reading; Problem says why runs cannot be stored.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the database folder: %w", err)
	}
	dsn := path + "?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_synchronous=FULL&_txlock=immediate&_pragma=cache_size(-32768)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	host, _ := os.Hostname()
	s := &Store{db: db, path: path, owner: owner{host: host, pid: os.Getpid(), instance: uuid.NewString()},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	ctx := context.Background()
	if err := migrate(ctx, db); err != nil {
		db.Close()
		err = writeFailure(err)
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
	if s.unlock, err = lockInstance(path, s.owner.instance); err != nil {
		s.problem = fmt.Errorf("%w: %s: %v", ErrNotWritable, path, err)
	} else if err := s.probeWrite(ctx); err != nil {
		s.problem = fmt.Errorf("%s %s, so runs cannot be stored (%w); %s, or pass another --db", path, whyNotWritable(err), err, fixNotWritable(err))
	} else if err := s.markInterrupted(ctx); err != nil {
		s.problem = fmt.Errorf("%s: mark interrupted runs: %w", path, writeFailure(err))
	}
	go s.writer()
	return s, nil
}

// OpenReadOnly opens an existing database for reading only: it creates no
// file or folder, writes nothing (no migration, no marking of orphans) and
// refuses writes with ErrNotWritable. A missing file gives ErrNoDatabase.
func OpenReadOnly(path string) (*Store, error) {
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
	s := &Store{db: db, path: path, readOnly: true, closing: true, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.problem = fmt.Errorf("%w: %s is open read-only", ErrNotWritable, path)
	close(s.done)
	return s, nil
}

func openRO(path string, immutable bool) (*sql.DB, error) {
	q := "mode=ro&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	if immutable {
		q += "&immutable=1"
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := schemaVersion(context.Background(), db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Problem says why runs cannot be stored now (the database is read-only,
// its disk is full, ...), or nil when they can. It wraps ErrNotWritable.
func (s *Store) Problem() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problem
}

// probeWrite checks that the database can be written, with a write that
// changes nothing and is rolled back.
func (s *Store) probeWrite(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return writeFailure(err)
	}
	defer tx.Rollback()
	v, err := schemaVersion(ctx, s.db)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v)); err != nil {
		return writeFailure(err)
	}
	return nil
}

// writeFailure marks err as ErrNotWritable when SQLite says the database
// is read-only, full or failing (not for constraint or logic errors).
func writeFailure(err error) error {
	if err == nil || errors.Is(err, ErrNotWritable) {
		return err
	}
	switch sqliteCode(err) {
	case 3, 8, 10, 13, 14: // SQLITE_PERM, READONLY, IOERR, FULL, CANTOPEN
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	}
	return err
}

// whyNotWritable and fixNotWritable explain an ErrNotWritable for people.
func whyNotWritable(err error) string {
	if sqliteCode(err) == 13 {
		return "is on a full disk"
	}
	return "is read-only"
}

func fixNotWritable(err error) string {
	if sqliteCode(err) == 13 {
		return "free disk space"
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
	return s.do(ctx, "mark interrupted runs", func(ctx context.Context, tx *sql.Tx) error {
		return markInterruptedTx(ctx, tx, s.path, s.owner)
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
	if err := markInterruptedTx(ctx, tx, s.path, s.owner); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func markInterruptedTx(ctx context.Context, tx *sql.Tx, path string, self owner) error {
	rows, err := tx.QueryContext(ctx, `SELECT rid, status, owner_host, owner_pid, owner_instance FROM runs WHERE status IN ('running', 'queued')`)
	if err != nil {
		return err
	}
	type orphan struct {
		rid    int64
		status string
	}
	var dead []orphan
	for rows.Next() {
		var o orphan
		var w owner
		var pid int64
		if err := rows.Scan(&o.rid, &o.status, &w.host, &pid, &w.instance); err != nil {
			rows.Close()
			return err
		}
		w.pid = int(pid)
		if !self.sees(path, w) {
			dead = append(dead, o)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
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
func (self owner) sees(path string, w owner) bool {
	if w.instance != "" {
		return w.instance == self.instance || instanceAlive(path, w.instance)
	}
	// Rows written before stores had instances: the PID rule.
	return w.host == self.host && (w.pid == self.pid || processAlive(w.pid))
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
		results := make([]error, len(batch))
		err := func() error {
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
					results[i] = fmt.Errorf("%s: %w", j.name, writeFailure(err))
					if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
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
		if err != nil {
			err = writeFailure(err)
			// The whole batch is lost: record what failed in writes of
			// their own, each small enough to have a chance.
			for _, j := range batch {
				if j.failed != nil {
					_ = s.single(ctx, func(ctx context.Context, tx *sql.Tx) error { return j.failed(ctx, tx, err) })
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
				s.problem = fmt.Errorf("%s: %w", s.path, e)
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

// single runs fn in a transaction of its own.
func (s *Store) single(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
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
func (s *Store) do(ctx context.Context, name string, fn func(ctx context.Context, tx *sql.Tx) error) error {
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
	if err := s.do(ctx, "flush", func(context.Context, *sql.Tx) error { return nil }); err != nil {
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
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	if s.unlock != nil {
		s.unlock() // after the last write: the instance's runs are final now
	}
	return werr
}

// RunStarted implements profiler.Recorder: it queues the run's row as running.
func (s *Store) RunStarted(info profiler.RunInfo) {
	s.enqueue(job{name: "store run " + info.ID, fn: func(ctx context.Context, tx *sql.Tx) error {
		_, err := upsertRun(ctx, tx, info, nil, s.owner)
		return err
	}})
}

// RunFinished implements profiler.Recorder: it queues the whole record. If
// the record cannot be written, the run is marked failed with the reason.
func (s *Store) RunFinished(rec *profiler.Record) {
	s.enqueue(job{name: "store run " + rec.Run.ID,
		fn: func(ctx context.Context, tx *sql.Tx) error {
			return saveRecord(ctx, tx, rec, s.owner)
		},
		failed: func(ctx context.Context, tx *sql.Tx, cause error) error {
			info := rec.Run
			info.Status = profiler.StatusFailed
			info.Error = fmt.Sprintf("the run ended (%s) but its measurements could not be stored: %v", rec.Run.Status, cause)
			_, err := upsertRun(ctx, tx, info, nil, s.owner)
			return err
		}})
}

// Save stores a whole record and waits until it is committed.
func (s *Store) Save(ctx context.Context, rec *profiler.Record) error {
	return s.do(ctx, "store run "+rec.Run.ID, func(ctx context.Context, tx *sql.Tx) error {
		return saveRecord(ctx, tx, rec, s.owner)
	})
}

// Queued stores a run as queued and waits until it is committed, so a run
// that was accepted can always be found. info needs the ID, the creation
// time and what was asked (model, prompt, settings, tags). An ID already
// stored is an error.
func (s *Store) Queued(ctx context.Context, info profiler.RunInfo) error {
	info.Status = profiler.StatusQueued
	return s.do(ctx, "store queued run "+info.ID, func(ctx context.Context, tx *sql.Tx) error {
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
	return s.do(ctx, "end queued run "+id, func(ctx context.Context, tx *sql.Tx) error {
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
	return s.do(ctx, "delete run "+id, func(ctx context.Context, tx *sql.Tx) error {
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

// Check runs PRAGMA integrity_check and returns its problems (none: ok).
func (s *Store) Check(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	return problems, rows.Err()
}
