package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings the schema from user_version i to i+1. Append only:
// a released migration is never edited.
func migrations() []string {
	return []string{
		// 1: the initial schema. Child tables are keyed by the run's integer
		// rowid (not its 36-byte UUID) and clustered by run (WITHOUT ROWID),
		// so a run's rows are stored together and deleted by cascade.
		`
CREATE TABLE runs (
	rid               INTEGER PRIMARY KEY,
	id                TEXT NOT NULL UNIQUE,
	created_at        INTEGER NOT NULL, -- unix ms
	finished_at       INTEGER,
	status            TEXT NOT NULL,
	error             TEXT NOT NULL DEFAULT '',
	owner_host        TEXT NOT NULL DEFAULT '',
	owner_pid         INTEGER NOT NULL DEFAULT 0,
	model_name        TEXT NOT NULL,
	model_path        TEXT NOT NULL DEFAULT '',
	prompt            TEXT NOT NULL,
	depth             TEXT NOT NULL DEFAULT '',
	duration_s        REAL,
	total_energy_j    REAL,
	joules_per_token  REAL,
	tokens_per_second REAL,
	input_tokens      INTEGER,
	output_tokens     INTEGER,
	energy_label      TEXT NOT NULL DEFAULT 'unavailable'
);
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_model ON runs(model_name, created_at);
CREATE INDEX runs_status ON runs(status, created_at);
CREATE INDEX runs_duration ON runs(duration_s);
CREATE INDEX runs_energy ON runs(total_energy_j);
CREATE INDEX runs_jpt ON runs(joules_per_token);
CREATE INDEX runs_tps ON runs(tokens_per_second);

-- The bulky JSON lives apart so the history list scans narrow rows.
CREATE TABLE run_details (
	run_rid       INTEGER PRIMARY KEY REFERENCES runs(rid) ON DELETE CASCADE,
	settings_json TEXT NOT NULL,
	host_json     TEXT NOT NULL,
	sources_json  TEXT NOT NULL,
	arch_json     TEXT,
	summary_json  TEXT
);

CREATE TABLE run_tags (
	run_rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	tag     TEXT NOT NULL,
	PRIMARY KEY (run_rid, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags(tag, run_rid);

CREATE TABLE power_samples (
	run_rid   INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	domain    TEXT NOT NULL,
	t0_ns     INTEGER NOT NULL,
	t1_ns     INTEGER NOT NULL,
	source    TEXT NOT NULL,
	kind      TEXT NOT NULL,
	energy_mj REAL, -- NULL when the source gave no counter delta
	power_mw  REAL, -- NULL when the source gave no average power
	PRIMARY KEY (run_rid, seq, domain)
) WITHOUT ROWID;

CREATE TABLE phases (
	run_rid         INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq             INTEGER NOT NULL,
	phase           TEXT NOT NULL,
	start_ns        INTEGER NOT NULL,
	end_ns          INTEGER NOT NULL,
	window_start_ns INTEGER NOT NULL,
	window_end_ns   INTEGER NOT NULL,
	energy_j        REAL,
	net_energy_j    REAL,
	uncertainty_j   REAL,
	label           TEXT NOT NULL,
	energy_json     TEXT NOT NULL,
	PRIMARY KEY (run_rid, seq)
) WITHOUT ROWID;

CREATE TABLE tokens (
	run_rid         INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq             INTEGER NOT NULL,
	idx             INTEGER NOT NULL,
	token_id        INTEGER NOT NULL,
	piece           TEXT NOT NULL,
	phase           TEXT NOT NULL,
	start_ns        INTEGER NOT NULL,
	end_ns          INTEGER NOT NULL,
	window_start_ns INTEGER NOT NULL,
	window_end_ns   INTEGER NOT NULL,
	energy_j        REAL,
	net_energy_j    REAL,
	uncertainty_j   REAL,
	other_j         REAL,
	label           TEXT NOT NULL,
	energy_json     TEXT NOT NULL,
	PRIMARY KEY (run_rid, seq)
) WITHOUT ROWID;

CREATE TABLE components (
	run_rid       INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	token_index   INTEGER NOT NULL,
	phase         TEXT NOT NULL,
	layer         INTEGER NOT NULL,
	component     TEXT NOT NULL,
	start_ns      INTEGER NOT NULL,
	end_ns        INTEGER NOT NULL,
	positions     INTEGER NOT NULL,
	energy_j      REAL,
	uncertainty_j REAL,
	basis         TEXT NOT NULL,
	label         TEXT NOT NULL,
	act_mean      REAL,
	act_std       REAL,
	act_max_abs   REAL,
	act_sparsity  REAL,
	PRIMARY KEY (run_rid, seq)
) WITHOUT ROWID;

CREATE TABLE deep_ops (
	run_rid             INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq                 INTEGER NOT NULL, -- the component call's seq
	attention_entropy   REAL,
	attention_sparsity  REAL,
	softmax_ns          INTEGER,
	mlp_kill_ratio      REAL,
	norm_variance_ratio REAL,
	PRIMARY KEY (run_rid, seq)
) WITHOUT ROWID;

CREATE TABLE layer_metrics (
	run_rid       INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	phase         TEXT NOT NULL,
	layer         INTEGER NOT NULL,
	component     TEXT NOT NULL,
	calls         INTEGER NOT NULL,
	total_ns      INTEGER NOT NULL,
	energy_j      REAL,
	label         TEXT NOT NULL,
	mean_max_abs  REAL,
	mean_sparsity REAL,
	PRIMARY KEY (run_rid, phase, layer, component)
) WITHOUT ROWID;
`,
		// 2: mixture-of-experts runs. Every router decision (one row per
		// chosen expert of a token at a layer) and the router's deep figures.
		`
CREATE TABLE routes (
	run_rid     INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,
	layer       INTEGER NOT NULL,
	position    INTEGER NOT NULL, -- sequence position; 0 is the first prompt token
	rank        INTEGER NOT NULL, -- 0 is the router's first choice
	token_index INTEGER NOT NULL, -- the generated token whose pass routed it (the prompt: token 0's prefill pass)
	phase       TEXT NOT NULL,
	expert      INTEGER NOT NULL,
	weight      REAL NOT NULL,
	PRIMARY KEY (run_rid, layer, position, rank)
) WITHOUT ROWID;
ALTER TABLE deep_ops ADD COLUMN router_entropy REAL;
ALTER TABLE deep_ops ADD COLUMN router_load_balance REAL;
`,
		// 3: liveness by the owning store's instance (a lock file it holds),
		// not its PID, which a restarted container reuses.
		`ALTER TABLE runs ADD COLUMN owner_instance TEXT NOT NULL DEFAULT '';`,
		// 4: runs of other kinds than our engine's: requests to inference
		// servers and energy windows. The server's description (endpoint,
		// token-count sources, its own timings) and a window's note live in
		// run_details; a streamed token remembers its chunk.
		`
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'engine';
CREATE INDEX runs_kind ON runs(kind, created_at);
ALTER TABLE run_details ADD COLUMN external_json TEXT;
ALTER TABLE run_details ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN chunk INTEGER;
ALTER TABLE tokens ADD COLUMN chunk_tokens INTEGER;
`,
		// 5: teams. The machine a run ran on (its id, name and power
		// sources, for filtering and grouping; the full description stays
		// in host_json) and the token that pushed it to a team server; the
		// machines seen; the team server's push and viewer tokens; and the
		// stores writing a shared (PostgreSQL) database, for liveness
		// across machines (SQLite stores use lock files beside the file).
		`
ALTER TABLE runs ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN machine_name TEXT NOT NULL DEFAULT '';
-- power_sources: the run's power source names, sorted, comma-separated.
ALTER TABLE runs ADD COLUMN power_sources TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN pushed_by TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_machine ON runs(machine_id, created_at DESC, rid DESC);

-- The history list's sorts with their tie-breaker, so a page of 100,000
-- runs is read from an index instead of sorting them all.
DROP INDEX runs_created;
DROP INDEX runs_duration;
DROP INDEX runs_energy;
DROP INDEX runs_jpt;
DROP INDEX runs_tps;
CREATE INDEX runs_created ON runs(created_at DESC, rid DESC);
CREATE INDEX runs_duration ON runs(duration_s DESC, rid DESC);
CREATE INDEX runs_energy ON runs(total_energy_j DESC, rid DESC);
CREATE INDEX runs_jpt ON runs(joules_per_token DESC, rid DESC);
CREATE INDEX runs_tps ON runs(tokens_per_second DESC, rid DESC);

CREATE TABLE machines (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	os            TEXT NOT NULL DEFAULT '',
	arch          TEXT NOT NULL DEFAULT '',
	cpu           TEXT NOT NULL DEFAULT '',
	gpu           TEXT NOT NULL DEFAULT '',
	cpus          INTEGER NOT NULL DEFAULT 0,
	power_sources TEXT NOT NULL DEFAULT '',
	last_run_at   INTEGER NOT NULL DEFAULT 0 -- unix ms of the newest run that described it
);

CREATE TABLE access_tokens (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL,        -- push or view
	hash       TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret
	created_at INTEGER NOT NULL
);

CREATE TABLE instances (
	id           TEXT PRIMARY KEY,
	host         TEXT NOT NULL,
	pid          INTEGER NOT NULL,
	started_ms   INTEGER NOT NULL,
	heartbeat_ms INTEGER NOT NULL -- the database server's clock
);
`,
	}
}

// schemaVersion reads the schema version without writing: SQLite's
// user_version, or PostgreSQL's schema_version table (absent: 0).
func schemaVersion(ctx context.Context, q querier, d dialect) (int, error) {
	var version int
	var err error
	if d == postgresDialect {
		err = q.QueryRowContext(ctx, `SELECT COALESCE(max(version), 0) FROM schema_version`).Scan(&version)
		if pgCode(err) == "42P01" { // undefined table: nothing was ever stored here
			return 0, nil
		}
	} else {
		err = q.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version)
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations()) {
		return version, fmt.Errorf("schema version %d is newer than this program knows (%d): update energyprofiler", version, len(migrations()))
	}
	return version, nil
}

// querier is what schemaVersion reads through: the database or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// setVersion records the schema version inside a migration's transaction.
func setVersion(ctx context.Context, tx *Tx, v int) error {
	if tx.d == postgresDialect {
		if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v)
		return err
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v))
	return err
}

// migrateLock is the PostgreSQL advisory lock key that serializes
// migrations (a fixed number: "EP_migra").
const migrateLock = 0x45505f6d69677261

// migrate applies the migrations past the database's version, each in its
// own transaction together with the version bump. The version is read
// inside the write transaction (after taking PostgreSQL's migration lock),
// so two processes opening a new database at once do not both migrate. An
// up-to-date database is not written to (it may be read-only, or full).
func migrate(ctx context.Context, db *db) error {
	ms := migrations()
	if v, err := schemaVersion(ctx, db, db.d); err != nil || v == len(ms) {
		return err
	}
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
		if db.d == postgresDialect {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrateLock)); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate schema: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate schema: %w", err)
			}
		}
		version, err := schemaVersion(ctx, tx, db.d)
		if err != nil {
			tx.Rollback()
			return err
		}
		if version == len(ms) {
			return tx.Commit()
		}
		if _, err := tx.ExecContext(ctx, db.d.ddl(ms[version])); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", version+1, err)
		}
		if err := setVersion(ctx, tx, version+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", version+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", version+1, err)
		}
	}
}
