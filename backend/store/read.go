package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// Query selects runs for the history list. Zero fields do not filter.
type Query struct {
	Search string            // substring of the prompt (case-insensitive for ASCII)
	Model  string            // exact model name
	Tags   []string          // runs carrying every one of these tags
	Status []profiler.Status // any of these statuses
	Kinds  []string          // any of these run kinds (engine, server, window)
	Since  time.Time         // created at or after
	Until  time.Time         // created before
	// Machine is a machine id: only runs made on that machine.
	Machine string
	// Sort is date (default), duration, energy, joules_per_token or
	// tokens_per_second; runs without the value sort last.
	Sort string
	// Asc sorts ascending; the default is descending (newest, largest first).
	Asc    bool
	Limit  int // default 50, at most 1000
	Offset int
}

// RunRow is one run in the history list (the API's run list fields).
type RunRow struct {
	ID              string          `json:"id"`
	CreatedAt       time.Time       `json:"created_at"`
	ModelName       string          `json:"model_name"`
	Prompt          string          `json:"prompt"`
	DurationS       *float64        `json:"duration_s"`
	TotalEnergyJ    *float64        `json:"total_energy_j"`
	JoulesPerToken  *float64        `json:"joules_per_token"`
	TokensPerSecond *float64        `json:"tokens_per_second"`
	Tags            []string        `json:"tags"`
	Status          profiler.Status `json:"status"`
	EnergyLabel     string          `json:"energy_label"`
	InputTokens     *int64          `json:"input_tokens"`
	OutputTokens    *int64          `json:"output_tokens"`
	// From the run's stored settings and architecture, for grouping runs:
	// the depth, the compute backend, the weights' dtype or quantization,
	// and the repeat group ("" for a single run).
	Depth       string `json:"depth"`
	Backend     string `json:"backend"`
	Dtype       string `json:"dtype"`
	RepeatGroup string `json:"repeat_group"`
	// Kind is engine, server or window.
	Kind string `json:"kind"`
	// The machine the run ran on ("" for runs recorded before machines
	// were) and its power sources' names, comma-separated.
	MachineID    string `json:"machine_id"`
	MachineName  string `json:"machine_name"`
	PowerSources string `json:"power_sources"`
}

// Page is one page of the history list; Total counts every match.
type Page struct {
	Runs   []RunRow `json:"runs"`
	Total  int      `json:"total"`
	Limit  int      `json:"limit"`
	Offset int      `json:"offset"`
}

// SortKeys are the accepted Query.Sort values.
func SortKeys() []string {
	return []string{"date", "duration", "energy", "joules_per_token", "tokens_per_second"}
}

// ValidSort reports whether key is an accepted Query.Sort value.
func ValidSort(key string) error {
	_, err := sortColumn(key)
	return err
}

func sortColumn(key string) (string, error) {
	switch key {
	case "", "date":
		return "created_at", nil
	case "duration":
		return "duration_s", nil
	case "energy":
		return "total_energy_j", nil
	case "joules_per_token", "j_per_token", "jpt":
		return "joules_per_token", nil
	case "tokens_per_second", "tok_s", "tps":
		return "tokens_per_second", nil
	}
	return "", fmt.Errorf("unknown sort %q: use one of %s", key, strings.Join(SortKeys(), ", "))
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// List returns one page of runs matching q.
func (s *Store) List(ctx context.Context, q Query) (Page, error) {
	col, err := sortColumn(q.Sort)
	if err != nil {
		return Page{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 1000)
	q.Offset = max(q.Offset, 0)

	var where []string
	var args []any
	if q.Search != "" {
		where = append(where, `prompt `+s.db.d.like()+` ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(q.Search)+"%")
	}
	if q.Model != "" {
		where = append(where, `model_name = ?`)
		args = append(args, q.Model)
	}
	if q.Machine != "" {
		where = append(where, `machine_id = ?`)
		args = append(args, q.Machine)
	}
	for _, t := range q.Tags {
		where = append(where, `EXISTS (SELECT 1 FROM run_tags WHERE run_rid = runs.rid AND tag = ?)`)
		args = append(args, t)
	}
	if len(q.Status) > 0 {
		where = append(where, `status IN (`+strings.TrimSuffix(strings.Repeat("?,", len(q.Status)), ",")+`)`)
		for _, st := range q.Status {
			args = append(args, string(st))
		}
	}
	if len(q.Kinds) > 0 {
		where = append(where, `kind IN (`+strings.TrimSuffix(strings.Repeat("?,", len(q.Kinds)), ",")+`)`)
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	if !q.Since.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, q.Until.UnixMilli())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	page := Page{Runs: []RunRow{}, Limit: q.Limit, Offset: q.Offset}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM runs`+cond, args...).Scan(&page.Total); err != nil {
		return Page{}, fmt.Errorf("count runs: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `
SELECT rid, id, created_at, model_name, prompt, duration_s, total_energy_j, joules_per_token, tokens_per_second, status,
	energy_label, input_tokens, output_tokens, machine_id, machine_name, power_sources,
	depth, `+s.db.d.jsonText("d.settings_json", "backend")+`, `+s.db.d.jsonText("d.arch_json", "dtype")+`,
	`+s.db.d.jsonText("d.settings_json", "repeat_group")+`, kind
FROM (SELECT * FROM runs`+cond+` ORDER BY `+s.db.d.orderBy(col, q.Asc)+` LIMIT ? OFFSET ?) AS runs
LEFT JOIN run_details d ON d.run_rid = runs.rid ORDER BY `+s.db.d.orderBy(col, q.Asc), append(args, q.Limit, q.Offset)...)
	if err != nil {
		return Page{}, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var rids []any
	byRid := map[int64]int{}
	for rows.Next() {
		var r RunRow
		var rid, created int64
		var status string
		var backend, dtype, group sql.NullString
		if err := rows.Scan(&rid, &r.ID, &created, &r.ModelName, &r.Prompt, &r.DurationS, &r.TotalEnergyJ, &r.JoulesPerToken,
			&r.TokensPerSecond, &status, &r.EnergyLabel, &r.InputTokens, &r.OutputTokens, &r.MachineID, &r.MachineName, &r.PowerSources,
			&r.Depth, &backend, &dtype, &group, &r.Kind); err != nil {
			return Page{}, fmt.Errorf("list runs: %w", err)
		}
		r.CreatedAt = time.UnixMilli(created).UTC()
		r.Status = profiler.Status(status)
		r.Backend, r.Dtype, r.RepeatGroup = backend.String, dtype.String, group.String
		r.Tags = []string{}
		byRid[rid] = len(page.Runs)
		rids = append(rids, rid)
		page.Runs = append(page.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list runs: %w", err)
	}
	rows.Close()
	if len(rids) == 0 {
		return page, nil
	}
	// The page's tags in one query (ordered, so each run's come sorted).
	trows, err := s.db.QueryContext(ctx, `SELECT run_rid, tag FROM run_tags WHERE run_rid IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(rids)), ",")+`) ORDER BY run_rid, tag`, rids...)
	if err != nil {
		return Page{}, fmt.Errorf("list run tags: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var rid int64
		var tag string
		if err := trows.Scan(&rid, &tag); err != nil {
			return Page{}, fmt.Errorf("list run tags: %w", err)
		}
		r := &page.Runs[byRid[rid]]
		r.Tags = append(r.Tags, tag)
	}
	return page, trows.Err()
}

// Resolve turns a run id or a unique prefix of one (at least 4 characters)
// into the full id.
func (s *Store) Resolve(ctx context.Context, idOrPrefix string) (string, error) {
	if len(idOrPrefix) < 4 {
		return "", fmt.Errorf("run id %q is too short: give at least 4 characters (see 'energyprofiler runs')", idOrPrefix)
	}
	var exact string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM runs WHERE id = ?`, idOrPrefix).Scan(&exact)
	if err == nil {
		return exact, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("find run %s: %w", idOrPrefix, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs WHERE id LIKE ? ESCAPE '\' ORDER BY id LIMIT 2`, likeEscape(idOrPrefix)+"%")
	if err != nil {
		return "", fmt.Errorf("find run %s: %w", idOrPrefix, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("%w: %s (see 'energyprofiler runs')", ErrNotFound, idOrPrefix)
	case len(ids) > 1:
		return "", fmt.Errorf("run id prefix %q matches several runs: give more characters", idOrPrefix)
	}
	return ids[0], nil
}

// Get loads a run's full record.
func (s *Store) Get(ctx context.Context, id string) (*profiler.Record, error) {
	return s.GetOmitting(ctx, id, Omit{})
}

// Omit names the bulkiest parts of a record, which views that do not draw
// them (Compare's charts need only tokens and power) leave out: a deep
// run's component calls are most of its rows.
type Omit struct {
	Components, Layers, Routing bool
}

// GetOmitting loads a run's record without the parts omit names (they
// are empty).
func (s *Store) GetOmitting(ctx context.Context, id string, omit Omit) (*profiler.Record, error) {
	rec, rid, err := s.head(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.loadChildren(ctx, rid, rec, omit); err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	return rec, nil
}

// head loads a run's row and details (what it was, where it ran, its
// summary and tags) without its bulky children, and returns its rowid.
func (s *Store) head(ctx context.Context, id string) (*profiler.Record, int64, error) {
	var (
		rid                     int64
		created                 int64
		finished                sql.NullInt64
		status, errMsg          string
		settings, host, sources string
		arch, summary, external sql.NullString
		kind                    string
		rec                     = &profiler.Record{}
	)
	info := &rec.Run
	err := s.db.QueryRowContext(ctx, `
SELECT rid, id, created_at, finished_at, status, error, model_name, model_path, prompt, settings_json, host_json, sources_json, arch_json, summary_json,
	kind, external_json, note
FROM runs JOIN run_details ON run_details.run_rid = runs.rid WHERE id = ?`, id).Scan(&rid, &info.ID, &created, &finished, &status, &errMsg, &info.ModelName, &info.ModelPath,
		&info.Prompt, &settings, &host, &sources, &arch, &summary, &kind, &external, &info.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load run %s: %w", id, err)
	}
	info.CreatedAt = time.UnixMilli(created).UTC()
	if finished.Valid {
		t := time.UnixMilli(finished.Int64).UTC()
		info.FinishedAt = &t
	}
	info.Status, info.Error = profiler.Status(status), errMsg
	if kind != profiler.KindEngine { // an engine run's Meta leaves its kind empty
		info.Kind = kind
	}
	if external.Valid {
		info.External = &profiler.External{}
		if err := json.Unmarshal([]byte(external.String), info.External); err != nil {
			return nil, 0, fmt.Errorf("load run %s server description: %w", id, err)
		}
	}
	for _, u := range []struct {
		text string
		dst  any
	}{{settings, &info.Settings}, {host, &info.Host}, {sources, &info.Sources}} {
		if err := json.Unmarshal([]byte(u.text), u.dst); err != nil {
			return nil, 0, fmt.Errorf("load run %s: %w", id, err)
		}
	}
	if arch.Valid {
		info.Arch = &profiler.Architecture{}
		if err := json.Unmarshal([]byte(arch.String), info.Arch); err != nil {
			return nil, 0, fmt.Errorf("load run %s architecture: %w", id, err)
		}
	}
	if summary.Valid {
		rec.Summary = &profiler.Summary{}
		if err := json.Unmarshal([]byte(summary.String), rec.Summary); err != nil {
			return nil, 0, fmt.Errorf("load run %s summary: %w", id, err)
		}
		rec.Summary.Status = info.Status
	}
	info.Tags = []string{}
	if err := eachRow(ctx, s.db, `SELECT tag FROM run_tags WHERE run_rid = ? ORDER BY tag`, rid, func(r *sql.Rows) error {
		var t string
		if err := r.Scan(&t); err != nil {
			return err
		}
		info.Tags = append(info.Tags, t)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("load run %s: %w", id, err)
	}
	return rec, rid, nil
}

func (s *Store) loadChildren(ctx context.Context, rid int64, rec *profiler.Record, omit Omit) error {

	rec.Phases = []profiler.PhaseRecord{}
	if err := eachRow(ctx, s.db, `SELECT phase, start_ns, end_ns, window_start_ns, window_end_ns, energy_json FROM phases WHERE run_rid = ? ORDER BY seq`, rid, func(r *sql.Rows) error {
		var p profiler.PhaseRecord
		var js string
		if err := r.Scan(&p.Phase, &p.StartNs, &p.EndNs, &p.WindowStartNs, &p.WindowEndNs, &js); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(js), &p.Energy); err != nil {
			return err
		}
		rec.Phases = append(rec.Phases, p)
		return nil
	}); err != nil {
		return err
	}

	rec.Tokens = []profiler.TokenRecord{}
	if err := eachRow(ctx, s.db, `SELECT idx, token_id, piece, phase, start_ns, end_ns, window_start_ns, window_end_ns, other_j, energy_json, chunk, chunk_tokens FROM tokens WHERE run_rid = ? ORDER BY seq`, rid, func(r *sql.Rows) error {
		var t profiler.TokenRecord
		var other sql.NullFloat64
		var js string
		var chunk, chunkTokens sql.NullInt64
		if err := r.Scan(&t.Index, &t.ID, &t.Piece, &t.Phase, &t.StartNs, &t.EndNs, &t.WindowStartNs, &t.WindowEndNs, &other, &js, &chunk, &chunkTokens); err != nil {
			return err
		}
		t.OtherJ = other.Float64
		if chunk.Valid {
			c := int(chunk.Int64)
			t.Chunk, t.ChunkTokens = &c, int(chunkTokens.Int64)
		}
		if err := json.Unmarshal([]byte(js), &t.Energy); err != nil {
			return err
		}
		rec.Tokens = append(rec.Tokens, t)
		return nil
	}); err != nil {
		return err
	}

	rec.Components = []profiler.ComponentRecord{}
	if err := eachRowUnless(omit.Components, ctx, s.db, `
SELECT c.token_index, c.phase, c.layer, c.component, c.start_ns, c.end_ns, c.positions, c.energy_j, c.uncertainty_j, c.basis, c.label,
	c.act_mean, c.act_std, c.act_max_abs, c.act_sparsity,
	d.seq, d.attention_entropy, d.attention_sparsity, d.softmax_ns, d.mlp_kill_ratio, d.norm_variance_ratio,
	d.router_entropy, d.router_load_balance
FROM components c LEFT JOIN deep_ops d ON d.run_rid = c.run_rid AND d.seq = c.seq
WHERE c.run_rid = ? ORDER BY c.seq`, rid, func(r *sql.Rows) error {
		var c profiler.ComponentRecord
		var unc, mean, std, maxAbs, sparsity sql.NullFloat64
		var deepSeq sql.NullInt64
		var d profiler.DeepStats
		var basis string
		if err := r.Scan(&c.TokenIndex, &c.Phase, &c.Layer, &c.Component, &c.StartNs, &c.EndNs, &c.Positions, &c.EnergyJ, &unc, &basis, &c.Label,
			&mean, &std, &maxAbs, &sparsity, &deepSeq, &d.AttentionEntropy, &d.AttentionSparsity, &d.SoftmaxNs, &d.MLPKillRatio, &d.NormVarianceRatio,
			&d.RouterEntropy, &d.RouterLoadBalance); err != nil {
			return err
		}
		c.Basis, c.UncertaintyJ = profiler.Basis(basis), unc.Float64
		if mean.Valid {
			c.Stats = &profiler.ActivationStats{Mean: mean.Float64, Std: std.Float64, MaxAbs: maxAbs.Float64, Sparsity: sparsity.Float64}
		}
		if deepSeq.Valid {
			c.Deep = &d
		}
		rec.Components = append(rec.Components, c)
		return nil
	}); err != nil {
		return err
	}

	rec.Layers = []profiler.LayerMetric{}
	if err := eachRowUnless(omit.Layers, ctx, s.db, `SELECT phase, layer, component, calls, total_ns, energy_j, label, mean_max_abs, mean_sparsity FROM layer_metrics WHERE run_rid = ? ORDER BY seq`, rid, func(r *sql.Rows) error {
		var l profiler.LayerMetric
		if err := r.Scan(&l.Phase, &l.Layer, &l.Component, &l.Calls, &l.TotalNs, &l.EnergyJ, &l.Label, &l.MeanAbs, &l.Sparsity); err != nil {
			return err
		}
		rec.Layers = append(rec.Layers, l)
		return nil
	}); err != nil {
		return err
	}

	// Router decisions, by position then layer, one row per chosen expert.
	if err := eachRowUnless(omit.Routing, ctx, s.db, `SELECT layer, position, rank, token_index, phase, expert, weight FROM routes WHERE run_rid = ? ORDER BY position, layer, rank`, rid, func(r *sql.Rows) error {
		var layer, position, rank, token, expert int
		var phase string
		var weight float64
		if err := r.Scan(&layer, &position, &rank, &token, &phase, &expert, &weight); err != nil {
			return err
		}
		if rank == 0 {
			rec.Routing = append(rec.Routing, profiler.RouteRecord{TokenIndex: token, Phase: phase, Layer: layer, Position: position})
		}
		last := &rec.Routing[len(rec.Routing)-1]
		last.Experts = append(last.Experts, expert)
		last.Weights = append(last.Weights, weight)
		return nil
	}); err != nil {
		return err
	}

	rec.Samples = []profiler.SampleRecord{}
	last := int64(-1)
	return eachRow(ctx, s.db, `SELECT seq, domain, t0_ns, t1_ns, source, kind, energy_mj, power_mw FROM power_samples WHERE run_rid = ? ORDER BY seq, domain`, rid, func(r *sql.Rows) error {
		var seq int64
		var s profiler.SampleRecord
		var domain, kind string
		var e, p sql.NullFloat64
		if err := r.Scan(&seq, &domain, &s.T0Ns, &s.T1Ns, &s.Source, &kind, &e, &p); err != nil {
			return err
		}
		if seq != last {
			s.Kind = power.Kind(kind)
			s.Domains = map[power.Domain]power.Reading{}
			rec.Samples = append(rec.Samples, s)
			last = seq
		}
		rec.Samples[len(rec.Samples)-1].Domains[power.Domain(domain)] = power.Reading{
			EnergyMJ: e.Float64, HasEnergy: e.Valid, PowerMW: p.Float64, HasPower: p.Valid}
		return nil
	})
}

// eachRowUnless is eachRow, or nothing when skip is set.
func eachRowUnless(skip bool, ctx context.Context, db *db, query string, rid int64, fn func(*sql.Rows) error) error {
	if skip {
		return nil
	}
	return eachRow(ctx, db, query, rid, fn)
}

func eachRow(ctx context.Context, db *db, query string, rid int64, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, query, rid)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RepeatGroup returns the ids of the runs made by one `profile --repeat N`
// (their settings' repeat_group), oldest first. group may be a unique prefix
// of at least 4 characters.
func (s *Store) RepeatGroup(ctx context.Context, group string) ([]string, error) {
	if len(group) < 4 {
		return nil, fmt.Errorf("repeat group %q is too short: give at least 4 characters", group)
	}
	rows, err := s.db.QueryContext(ctx, `
SELECT runs.id, `+s.db.d.jsonText("d.settings_json", "repeat_group")+`
FROM runs JOIN run_details d ON d.run_rid = runs.rid
WHERE `+s.db.d.jsonText("d.settings_json", "repeat_group")+` LIKE ? ESCAPE '\'
ORDER BY runs.created_at, runs.rid`, likeEscape(group)+"%")
	if err != nil {
		return nil, fmt.Errorf("find repeat group %s: %w", group, err)
	}
	defer rows.Close()
	var ids []string
	full := ""
	for rows.Next() {
		var id, g string
		if err := rows.Scan(&id, &g); err != nil {
			return nil, err
		}
		if full != "" && g != full {
			return nil, fmt.Errorf("repeat group prefix %q matches several groups: give more characters", group)
		}
		full = g
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no runs in repeat group %s", ErrNotFound, group)
	}
	return ids, nil
}
