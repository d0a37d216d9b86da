package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"energyprofiler/backend/profiler"
)

// Teams: runs copied in from other machines' databases (push), the
// machines runs came from, and the tokens a team server hands out.

// Machine is a machine runs were made on, as its newest run described it.
type Machine struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	OS           string    `json:"os"`
	Arch         string    `json:"arch"`
	CPU          string    `json:"cpu"`
	GPU          string    `json:"gpu"`
	CPUs         int       `json:"cpus"`
	PowerSources string    `json:"power_sources"`
	LastRunAt    time.Time `json:"last_run_at"`
}

// Machines lists the machines with stored runs, by name. (Counting each
// machine's runs would read every run; the machine filter counts them.)
func (s *Store) Machines(ctx context.Context) ([]Machine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, os, arch, cpu, gpu, cpus, power_sources, last_run_at FROM machines
WHERE EXISTS (SELECT 1 FROM runs WHERE machine_id = machines.id) ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	defer rows.Close()
	out := []Machine{}
	for rows.Next() {
		var m Machine
		var last int64
		if err := rows.Scan(&m.ID, &m.Name, &m.OS, &m.Arch, &m.CPU, &m.GPU, &m.CPUs, &m.PowerSources, &last); err != nil {
			return nil, fmt.Errorf("list machines: %w", err)
		}
		m.LastRunAt = time.UnixMilli(last).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// Have returns which of ids are stored, in no particular order.
func (s *Store) Have(ctx context.Context, ids []string) ([]string, error) {
	have := []string{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs WHERE id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up runs: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			have = append(have, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return have, nil
}

// ErrInvalidRun is wrapped by Import's refusals of a record that is not a
// finished run this store can take.
var ErrInvalidRun = errors.New("invalid run")

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FinishedStatuses are the final statuses (an abandoned window's
// included): only runs in one are pushed, since a queued or running one
// belongs to the store still writing it.
func FinishedStatuses() []profiler.Status {
	return []profiler.Status{profiler.StatusCompleted, profiler.StatusFailed, profiler.StatusCancelled,
		profiler.StatusInterrupted, profiler.StatusAbandoned}
}

// Finished reports whether a run's status is final (see FinishedStatuses).
func Finished(status profiler.Status) bool {
	return slices.Contains(FinishedStatuses(), status)
}

// Import stores a finished run copied from another database, unless a run
// with its id is stored already: created says which. Run ids are UUIDs, so
// pushing the same run twice, or from two machines at once, stores it
// once. pushedBy names who sent it (the token's name).
func (s *Store) Import(ctx context.Context, rec *profiler.Record, pushedBy string) (created bool, err error) {
	if err := checkImport(rec); err != nil {
		return false, err
	}
	err = s.do(ctx, "import run "+rec.Run.ID, func(ctx context.Context, tx *Tx) error {
		err := importRecord(ctx, tx, rec, pushedBy)
		if errors.Is(err, errAlreadyStored) {
			return nil
		}
		if err == nil {
			created = true
		}
		return err
	})
	return created, err
}

func checkImport(rec *profiler.Record) error {
	r := rec.Run
	switch {
	case !uuidPattern.MatchString(r.ID):
		return fmt.Errorf("%w: id %q is not a lower-case UUID", ErrInvalidRun, r.ID)
	case !Finished(r.Status):
		return fmt.Errorf("%w: run %s is %q; only finished runs (completed, failed, cancelled, interrupted, abandoned) can be copied", ErrInvalidRun, r.ID, r.Status)
	case r.CreatedAt.IsZero():
		return fmt.Errorf("%w: run %s has no created_at", ErrInvalidRun, r.ID)
	case r.ModelName == "":
		return fmt.Errorf("%w: run %s has no model_name", ErrInvalidRun, r.ID)
	case rec.Summary != nil && rec.Summary.RunID != r.ID:
		return fmt.Errorf("%w: run %s carries the summary of run %s", ErrInvalidRun, r.ID, rec.Summary.RunID)
	}
	for _, rt := range rec.Routing {
		if len(rt.Weights) != len(rt.Experts) {
			return fmt.Errorf("%w: run %s: layer %d position %d has %d experts but %d weights", ErrInvalidRun, r.ID, rt.Layer, rt.Position, len(rt.Experts), len(rt.Weights))
		}
	}
	return nil
}

// Token roles on a team server: push may copy runs in and read them;
// view may only read.
const (
	RolePush = "push"
	RoleView = "view"
)

// Token is an access token of a team server (its secret is never stored,
// only its SHA-256).
type Token struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// AddToken creates a token named name (a machine's or a person's) with a
// role, and returns its secret, which is shown once and never stored.
func (s *Store) AddToken(ctx context.Context, name, role string) (string, error) {
	if !tokenName.MatchString(name) {
		return "", fmt.Errorf("token name %q: use 1-64 letters, digits, '.', '_', '@' or '-' (e.g. the machine's name)", name)
	}
	if role != RolePush && role != RoleView {
		return "", fmt.Errorf("token role %q: use %s (copy runs in and read) or %s (read only)", role, RolePush, RoleView)
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails on supported platforms
	secret := "ep_" + role + "_" + hex.EncodeToString(b)
	err := s.do(ctx, "add token "+name, func(ctx context.Context, tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM access_tokens WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("a token named %s exists: revoke it first, or pick another name", name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)`,
			name, role, hashToken(secret), time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Tokens lists the tokens, by name.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_at FROM access_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		var at int64
		if err := rows.Scan(&t.Name, &t.Role, &at); err != nil {
			return nil, err
		}
		t.CreatedAt = time.UnixMilli(at).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes the token named name.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	return s.do(ctx, "revoke token "+name, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no token named %s (see 'energyprofiler token list')", ErrNotFound, name)
		}
		return nil
	})
}

// CheckToken finds the token whose secret this is; ok is false for none.
// The lookup is by the secret's hash, so its time does not depend on how
// much of a guess matches.
func (s *Store) CheckToken(ctx context.Context, secret string) (t Token, ok bool, err error) {
	if secret == "" {
		return Token{}, false, nil
	}
	var at int64
	err = s.db.QueryRowContext(ctx, `SELECT name, role, created_at FROM access_tokens WHERE hash = ?`, hashToken(secret)).Scan(&t.Name, &t.Role, &at)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Token{}, false, nil
		}
		return Token{}, false, fmt.Errorf("check token: %w", err)
	}
	t.CreatedAt = time.UnixMilli(at).UTC()
	return t, true, nil
}
