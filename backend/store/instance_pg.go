package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// liveness tells whether the store instance that left a run queued or
// running is still open, across everything that shares the database.
type liveness interface {
	// lock registers this store's instance for as long as it is open;
	// release ends it.
	lock(ctx context.Context, self owner) (release func(), err error)
	// alive reports whether instance id is still open.
	alive(ctx context.Context, tx *Tx, id string) (bool, error)
}

// fileLiveness: a SQLite database is shared only by processes of one
// machine, so an instance is a lock file beside it (see instance_unix.go).
type fileLiveness struct{ path string }

func (f fileLiveness) lock(_ context.Context, self owner) (func(), error) {
	return lockInstance(f.path, self.instance)
}

func (f fileLiveness) alive(_ context.Context, _ *Tx, id string) (bool, error) {
	return instanceAlive(f.path, id), nil
}

// pgLiveness: a PostgreSQL database is shared by stores on many machines,
// which share no file system, so the database keeps the instances. An open
// store holds a session advisory lock keyed by its instance on a connection
// of its own, and beats a heartbeat into the instances table:
//
//   - a process that dies (crash, SIGKILL, power-off of a laptop whose TCP
//     connection the kernel closes) loses its connection, and PostgreSQL
//     drops the lock at once;
//   - a machine that vanishes from the network keeps a half-open connection,
//     and with it the lock, until the server's TCP keepalive gives up
//     (hours by default), so a heartbeat older than heartbeatTimeout counts
//     as dead too. The heartbeat uses the database server's clock, so the
//     machines' clocks do not matter.
//
// An instance is alive while it holds its lock and its heartbeat is fresh.
// A run wrongly declared interrupted while its store was cut off is still
// written whole when the run ends: the record replaces the status.
type pgLiveness struct{ db *db }

const (
	heartbeatEvery   = 10 * time.Second
	heartbeatTimeout = 60 * time.Second
	// staleInstances are forgotten after this long without a heartbeat.
	staleInstances = 24 * time.Hour
)

// nowMs is the database server's clock in unix milliseconds.
const pgNowMs = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

// instanceKey is the advisory lock key of an instance.
func instanceKey(id string) int64 {
	sum := sha256.Sum256([]byte("energyprofiler instance " + id))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

func (p pgLiveness) lock(ctx context.Context, self owner) (func(), error) {
	h := &heart{db: p.db, self: self, stop: make(chan struct{}), done: make(chan struct{})}
	if err := h.connect(ctx); err != nil {
		return nil, err
	}
	go h.beat()
	return h.release, nil
}

// heart holds one instance's lock connection and beats its heartbeat.
type heart struct {
	db   *db
	self owner
	mu   sync.Mutex
	conn *sql.Conn
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// connect takes a connection of its own, the instance's advisory lock on
// it, and registers (or re-registers) the instance.
func (h *heart) connect(ctx context.Context) error {
	conn, err := h.db.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("register this store with the database: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, instanceKey(h.self.instance)); err != nil {
		conn.Close()
		return fmt.Errorf("take this store's instance lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO instances (id, host, pid, started_ms, heartbeat_ms) VALUES ($1, $2, $3, `+pgNowMs+`, `+pgNowMs+`)
ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms`, h.self.instance, h.db.d.args([]any{h.self.host})[0], h.self.pid); err != nil {
		conn.Close()
		return fmt.Errorf("register this store with the database: %w", err)
	}
	h.mu.Lock()
	h.conn = conn
	h.mu.Unlock()
	return nil
}

// beat refreshes the heartbeat; a connection that broke (the server
// restarted) is replaced, taking the lock again.
func (h *heart) beat() {
	defer close(h.done)
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
		h.mu.Lock()
		conn := h.conn
		h.mu.Unlock()
		var err error
		if conn != nil {
			_, err = conn.ExecContext(ctx, `UPDATE instances SET heartbeat_ms = `+pgNowMs+` WHERE id = $1`, h.self.instance)
		}
		if conn == nil || err != nil {
			if conn != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn }) // drop it from the pool
				conn.Close()
				h.mu.Lock()
				h.conn = nil
				h.mu.Unlock()
			}
			_ = h.connect(ctx) // tried again at the next beat if it fails
		}
		cancel()
	}
}

func (h *heart) release() {
	h.once.Do(func() {
		close(h.stop)
		<-h.done
		h.mu.Lock()
		conn := h.conn
		h.conn = nil
		h.mu.Unlock()
		if conn == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.ExecContext(ctx, `DELETE FROM instances WHERE id = $1`, h.self.instance)
		conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, instanceKey(h.self.instance))
		conn.Close()
	})
}

func (p pgLiveness) alive(ctx context.Context, tx *Tx, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	key := instanceKey(id)
	var alive bool
	err := tx.QueryRowContext(ctx, `
SELECT EXISTS (SELECT 1 FROM instances WHERE id = ? AND heartbeat_ms > `+pgNowMs+` - ?)
   AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 1)`,
		id, heartbeatTimeout.Milliseconds(), int64(uint64(key)>>32), int64(uint64(key)&0xffffffff)).Scan(&alive)
	return alive, err
}

// forgetStaleInstances removes instances long gone, so the table stays small.
func forgetStaleInstances(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE heartbeat_ms < `+pgNowMs+` - ?`, staleInstances.Milliseconds())
	return err
}
