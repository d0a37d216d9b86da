// Package store keeps profiled runs in SQLite (modernc.org/sqlite, pure Go):
// the schema and its migrations, a writer goroutine that batches writes in
// transactions so inference never waits on disk, history queries, deletion
// with everything a run owns, and exports (JSON, CSV, Perfetto trace).
//
// Durability: the database runs in WAL mode with synchronous=FULL, and a
// run's rows and its "completed" status are written in one transaction, so a
// completed run survives a crash of the writing process. A run whose process
// died while it was running is marked "interrupted" the next time the
// database is opened.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"energyprofiler/backend/profiler"
)

// ErrNotFound is returned for a run id that is not stored.
var ErrNotFound = errors.New("run not found")

// Store is an open profiling database. Its methods are safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
	host string
	pid  int

	mu      sync.Mutex
	queue   []job
	wake    chan struct{}
	closing bool
	done    chan struct{}
	err     error // first asynchronous write error, reported by Flush
}

type job struct {
	name string
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // nil for fire-and-forget
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

// Open opens (creating if needed) the database at path, migrates its schema,
// marks runs left "running" by a dead process as "interrupted", and starts
// the writer.
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
	s := &Store{db: db, path: path, host: host, pid: os.Getpid(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	ctx := context.Background()
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w (if the file is damaged, move it aside and a new one will be created)", path, err)
	}
	if err := s.markInterrupted(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: mark interrupted runs: %w", path, err)
	}
	go s.writer()
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// markInterrupted turns "running" runs into "interrupted" unless the process
// that owns them is still alive on this host (a server profiling while the
// CLI opens the same database).
func (s *Store) markInterrupted(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT rid, owner_host, owner_pid FROM runs WHERE status = 'running'`)
	if err != nil {
		return err
	}
	var dead []int64
	for rows.Next() {
		var rid, pid int64
		var host string
		if err := rows.Scan(&rid, &host, &pid); err != nil {
			rows.Close()
			return err
		}
		if host == s.host && (int(pid) == s.pid || processAlive(int(pid))) {
			continue
		}
		dead = append(dead, rid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, rid := range dead {
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET status = 'interrupted', error = 'the process stopped while the run was in progress' WHERE rid = ? AND status = 'running'`, rid); err != nil {
			return err
		}
	}
	return nil
}

// enqueue hands a write to the writer goroutine. It never blocks.
func (s *Store) enqueue(j job) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		if j.done != nil {
			j.done <- errors.New("store is closed")
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
					results[i] = fmt.Errorf("%s: %w", j.name, err)
					if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
						tx.Rollback()
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
					tx.Rollback()
					return err
				}
			}
			return tx.Commit()
		}()
		for i, j := range batch {
			e := results[i]
			if err != nil {
				e = fmt.Errorf("%s: %w", j.name, err)
			}
			if e != nil {
				s.mu.Lock()
				if s.err == nil {
					s.err = e
				}
				s.mu.Unlock()
			}
			if j.done != nil {
				j.done <- e
			}
		}
	}
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
	return werr
}

// RunStarted implements profiler.Recorder: it queues the run's row as running.
func (s *Store) RunStarted(info profiler.RunInfo) {
	s.enqueue(job{name: "store run " + info.ID, fn: func(ctx context.Context, tx *sql.Tx) error {
		_, err := upsertRun(ctx, tx, info, nil, s.host, s.pid)
		return err
	}})
}

// RunFinished implements profiler.Recorder: it queues the whole record.
func (s *Store) RunFinished(rec *profiler.Record) {
	s.enqueue(job{name: "store run " + rec.Run.ID, fn: func(ctx context.Context, tx *sql.Tx) error {
		return saveRecord(ctx, tx, rec, s.host, s.pid)
	}})
}

// Save stores a whole record and waits until it is committed.
func (s *Store) Save(ctx context.Context, rec *profiler.Record) error {
	return s.do(ctx, "store run "+rec.Run.ID, func(ctx context.Context, tx *sql.Tx) error {
		return saveRecord(ctx, tx, rec, s.host, s.pid)
	})
}

// Delete removes a run and everything it owns.
func (s *Store) Delete(ctx context.Context, id string) error {
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
