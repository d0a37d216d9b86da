package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func nullFloat(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

func nullInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

func metricValue(m profiler.Metric) any { return nullFloat(m.Value) }

// upsertRun inserts or updates a run's row and returns its rowid.
func upsertRun(ctx context.Context, tx *Tx, info profiler.RunInfo, sum *profiler.Summary, o owner) (int64, error) {
	return writeRun(ctx, tx, info, sum, o, "", false)
}

// errAlreadyStored: writeRun with onlyNew found the run stored already.
var errAlreadyStored = errors.New("run is already stored")

// writeRun writes a run's row, details, tags and machine. With onlyNew a
// run already stored is left alone (errAlreadyStored): a pushed copy never
// overwrites what a database has. pushedBy names the token that pushed it.
func writeRun(ctx context.Context, tx *Tx, info profiler.RunInfo, sum *profiler.Summary, o owner, pushedBy string, onlyNew bool) (int64, error) {
	settings, err := jsonText(info.Settings)
	if err != nil {
		return 0, err
	}
	hostJSON, err := jsonText(info.Host)
	if err != nil {
		return 0, err
	}
	sources, err := jsonText(info.Sources)
	if err != nil {
		return 0, err
	}
	var arch, summary, external any
	if info.Arch != nil {
		if arch, err = jsonText(info.Arch); err != nil {
			return 0, err
		}
	}
	if info.External != nil {
		if external, err = jsonText(info.External); err != nil {
			return 0, err
		}
	}
	var duration, energy, jpt, tps any
	var in, out any
	label := "unavailable"
	if sum != nil {
		if summary, err = jsonText(sum); err != nil {
			return 0, err
		}
		duration, energy = metricValue(sum.DurationS), metricValue(sum.TotalEnergyJ)
		jpt, tps = metricValue(sum.JoulesPerToken), metricValue(sum.TokensPerSecond)
		in, out = sum.InputTokens, sum.OutputTokens
		label = sum.TotalEnergyJ.Label
	}
	var finished any
	if info.FinishedAt != nil {
		finished = info.FinishedAt.UnixMilli()
	}
	conflict := `DO UPDATE SET finished_at=excluded.finished_at, status=excluded.status, error=excluded.error,
	model_name=excluded.model_name, model_path=excluded.model_path, prompt=excluded.prompt, depth=excluded.depth,
	duration_s=excluded.duration_s, total_energy_j=excluded.total_energy_j, joules_per_token=excluded.joules_per_token,
	tokens_per_second=excluded.tokens_per_second, input_tokens=excluded.input_tokens,
	output_tokens=excluded.output_tokens, energy_label=excluded.energy_label, kind=excluded.kind,
	machine_id=excluded.machine_id, machine_name=excluded.machine_name, power_sources=excluded.power_sources`
	if onlyNew {
		conflict = "DO NOTHING"
	}
	sourceNames := SourceNames(info.Sources)
	var rid int64
	err = tx.QueryRowContext(ctx, `
INSERT INTO runs (id, created_at, finished_at, status, error, owner_host, owner_pid, owner_instance, model_name, model_path, prompt, depth,
	duration_s, total_energy_j, joules_per_token, tokens_per_second, input_tokens, output_tokens, energy_label, kind,
	machine_id, machine_name, power_sources, pushed_by)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(id) `+conflict+`
RETURNING rid`,
		info.ID, info.CreatedAt.UnixMilli(), finished, string(info.Status), info.Error, o.host, o.pid, o.instance, info.ModelName, info.ModelPath,
		info.Prompt, info.Settings.Depth, duration, energy, jpt, tps, in, out, label, profiler.KindOf(info.Meta),
		info.Host.ID, info.Host.Hostname, sourceNames, pushedBy,
	).Scan(&rid)
	if onlyNew && errors.Is(err, sql.ErrNoRows) {
		return 0, errAlreadyStored
	}
	if err != nil {
		return 0, fmt.Errorf("write run row: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO run_details (run_rid, settings_json, host_json, sources_json, arch_json, summary_json, external_json, note)
VALUES (?,?,?,?,?,?,?,?)
ON CONFLICT(run_rid) DO UPDATE SET settings_json=excluded.settings_json, host_json=excluded.host_json, sources_json=excluded.sources_json,
	arch_json=excluded.arch_json, summary_json=excluded.summary_json, external_json=excluded.external_json, note=excluded.note`,
		rid, settings, hostJSON, sources, arch, summary, external, info.Note); err != nil {
		return 0, fmt.Errorf("write run details: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_tags WHERE run_rid = ?`, rid); err != nil {
		return 0, err
	}
	for _, tag := range info.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_tags (run_rid, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, rid, tag); err != nil {
			return 0, fmt.Errorf("write tag: %w", err)
		}
	}
	if err := writeMachine(ctx, tx, info.Host, sourceNames, info.CreatedAt.UnixMilli()); err != nil {
		return 0, err
	}
	return rid, nil
}

// writeMachine records the machine a run ran on; the newest run's
// description of a machine wins (it may have been upgraded or renamed).
func writeMachine(ctx context.Context, tx *Tx, h profiler.Host, sourceNames string, at int64) error {
	if h.ID == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
INSERT INTO machines (id, name, os, arch, cpu, gpu, cpus, power_sources, last_run_at) VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT(id) DO UPDATE SET name=excluded.name, os=excluded.os, arch=excluded.arch, cpu=excluded.cpu, gpu=excluded.gpu,
	cpus=excluded.cpus, last_run_at=excluded.last_run_at,
	power_sources=CASE WHEN excluded.power_sources = '' THEN machines.power_sources ELSE excluded.power_sources END
WHERE excluded.last_run_at >= machines.last_run_at`,
		h.ID, h.Hostname, h.OS, h.Arch, h.CPU, h.GPU, h.CPUs, sourceNames, at)
	if err != nil {
		return fmt.Errorf("write machine: %w", err)
	}
	return nil
}

// SourceNames is how a run's power sources are listed for filtering and
// for telling whether two runs were measured alike: their names, sorted,
// comma-separated.
func SourceNames(sources []profiler.SourceUse) string {
	names := make([]string, 0, len(sources))
	for _, s := range sources {
		if s.Name != "" && !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// bulk inserts rows with multi-row INSERT statements, far fewer round trips
// through the SQL layer than one statement per row.
type bulk struct {
	ctx     context.Context
	tx      *Tx
	table   string
	cols    int
	perStmt int
	head    string
	full    *stmt
	args    []any
	n       int
}

func newBulk(ctx context.Context, tx *Tx, table string, cols ...string) *bulk {
	per := max(1, min(500, 30000/len(cols)))
	return &bulk{ctx: ctx, tx: tx, table: table, cols: len(cols), perStmt: per,
		head: "INSERT INTO " + table + " (" + strings.Join(cols, ",") + ") VALUES "}
}

func (b *bulk) stmtText(rows int) string {
	one := "(" + strings.Repeat("?,", b.cols-1) + "?)"
	var sb strings.Builder
	sb.WriteString(b.head)
	for i := 0; i < rows; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(one)
	}
	return sb.String()
}

func (b *bulk) add(vals ...any) error {
	b.args = append(b.args, vals...)
	b.n++
	if b.n == b.perStmt {
		return b.flush()
	}
	return nil
}

func (b *bulk) flush() error {
	if b.n == 0 {
		return nil
	}
	var err error
	if b.n == b.perStmt {
		if b.full == nil {
			if b.full, err = b.tx.PrepareContext(b.ctx, b.stmtText(b.perStmt)); err != nil {
				return fmt.Errorf("write %s: %w", b.table, err)
			}
		}
		_, err = b.full.ExecContext(b.ctx, b.args...)
	} else {
		_, err = b.tx.ExecContext(b.ctx, b.stmtText(b.n), b.args...)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", b.table, err)
	}
	b.args, b.n = b.args[:0], 0
	return nil
}

func (b *bulk) close() error {
	err := b.flush()
	if b.full != nil {
		b.full.Close()
	}
	return err
}

func energyColumns(e profiler.Energy) (gross, net, unc any, label, js string, err error) {
	label = "unavailable"
	if t := e.Total; t != nil {
		gross, unc, label = t.GrossJ, t.UncertaintyJ, t.Label
		net = nullFloat(t.NetJ)
	}
	js, err = jsonText(e)
	return
}

// saveRecord writes a whole run: its row (now with status and summary) and
// every child row, replacing any earlier partial write of the same run.
func saveRecord(ctx context.Context, tx *Tx, rec *profiler.Record, o owner) error {
	rid, err := upsertRun(ctx, tx, rec.Run, rec.Summary, o)
	if err != nil {
		return err
	}
	return writeChildren(ctx, tx, rid, rec)
}

// importRecord writes a run copied from another database unless a run with
// its id is stored already (errAlreadyStored).
func importRecord(ctx context.Context, tx *Tx, rec *profiler.Record, pushedBy string) error {
	rid, err := writeRun(ctx, tx, rec.Run, rec.Summary, owner{host: rec.Run.Host.Hostname}, pushedBy, true)
	if err != nil {
		return err
	}
	return writeChildren(ctx, tx, rid, rec)
}

// writeChildren writes every child row of a run (replacing any there).
func writeChildren(ctx context.Context, tx *Tx, rid int64, rec *profiler.Record) error {
	for _, t := range []string{"power_samples", "phases", "tokens", "components", "deep_ops", "layer_metrics", "routes"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE run_rid = ?", rid); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}

	b := newBulk(ctx, tx, "power_samples", "run_rid", "seq", "domain", "t0_ns", "t1_ns", "source", "kind", "energy_mj", "power_mw")
	for i, s := range rec.Samples {
		domains := make([]string, 0, len(s.Domains))
		for d := range s.Domains {
			domains = append(domains, string(d))
		}
		sort.Strings(domains)
		for _, d := range domains {
			r := s.Domains[power.Domain(d)]
			var e, p any
			if r.HasEnergy {
				e = r.EnergyMJ
			}
			if r.HasPower {
				p = r.PowerMW
			}
			if err := b.add(rid, i, d, s.T0Ns, s.T1Ns, s.Source, string(s.Kind), e, p); err != nil {
				return err
			}
		}
	}
	if err := b.close(); err != nil {
		return err
	}

	b = newBulk(ctx, tx, "phases", "run_rid", "seq", "phase", "start_ns", "end_ns", "window_start_ns", "window_end_ns",
		"energy_j", "net_energy_j", "uncertainty_j", "label", "energy_json")
	for i, p := range rec.Phases {
		g, n, u, l, js, err := energyColumns(p.Energy)
		if err != nil {
			return err
		}
		if err := b.add(rid, i, p.Phase, p.StartNs, p.EndNs, p.WindowStartNs, p.WindowEndNs, g, n, u, l, js); err != nil {
			return err
		}
	}
	if err := b.close(); err != nil {
		return err
	}

	b = newBulk(ctx, tx, "tokens", "run_rid", "seq", "idx", "token_id", "piece", "phase", "start_ns", "end_ns",
		"window_start_ns", "window_end_ns", "energy_j", "net_energy_j", "uncertainty_j", "other_j", "label", "energy_json", "chunk", "chunk_tokens")
	for i, t := range rec.Tokens {
		g, n, u, l, js, err := energyColumns(t.Energy)
		if err != nil {
			return err
		}
		var other any
		if t.Energy.Total != nil {
			other = t.OtherJ
		}
		var chunk, chunkTokens any
		if t.Chunk != nil {
			chunk, chunkTokens = *t.Chunk, t.ChunkTokens
		}
		if err := b.add(rid, i, t.Index, t.ID, t.Piece, t.Phase, t.StartNs, t.EndNs, t.WindowStartNs, t.WindowEndNs, g, n, u, other, l, js, chunk, chunkTokens); err != nil {
			return err
		}
	}
	if err := b.close(); err != nil {
		return err
	}

	b = newBulk(ctx, tx, "components", "run_rid", "seq", "token_index", "phase", "layer", "component", "start_ns", "end_ns",
		"positions", "energy_j", "uncertainty_j", "basis", "label", "act_mean", "act_std", "act_max_abs", "act_sparsity")
	deep := newBulk(ctx, tx, "deep_ops", "run_rid", "seq", "attention_entropy", "attention_sparsity", "softmax_ns", "mlp_kill_ratio", "norm_variance_ratio",
		"router_entropy", "router_load_balance")
	for i, c := range rec.Components {
		var mean, std, maxAbs, sparsity any
		if s := c.Stats; s != nil {
			mean, std, maxAbs, sparsity = s.Mean, s.Std, s.MaxAbs, s.Sparsity
		}
		var unc any
		if c.EnergyJ != nil {
			unc = c.UncertaintyJ
		}
		if err := b.add(rid, i, c.TokenIndex, c.Phase, c.Layer, c.Component, c.StartNs, c.EndNs, c.Positions,
			nullFloat(c.EnergyJ), unc, string(c.Basis), c.Label, mean, std, maxAbs, sparsity); err != nil {
			return err
		}
		if d := c.Deep; d != nil {
			if err := deep.add(rid, i, nullFloat(d.AttentionEntropy), nullFloat(d.AttentionSparsity), nullInt(d.SoftmaxNs),
				nullFloat(d.MLPKillRatio), nullFloat(d.NormVarianceRatio), nullFloat(d.RouterEntropy), nullFloat(d.RouterLoadBalance)); err != nil {
				return err
			}
		}
	}
	if err := b.close(); err != nil {
		return err
	}
	if err := deep.close(); err != nil {
		return err
	}

	b = newBulk(ctx, tx, "layer_metrics", "run_rid", "seq", "phase", "layer", "component", "calls", "total_ns", "energy_j", "label", "mean_max_abs", "mean_sparsity")
	for i, l := range rec.Layers {
		if err := b.add(rid, i, l.Phase, l.Layer, l.Component, l.Calls, l.TotalNs, nullFloat(l.EnergyJ), l.Label, nullFloat(l.MeanAbs), nullFloat(l.Sparsity)); err != nil {
			return err
		}
	}
	if err := b.close(); err != nil {
		return err
	}

	b = newBulk(ctx, tx, "routes", "run_rid", "layer", "position", "rank", "token_index", "phase", "expert", "weight")
	for _, r := range rec.Routing {
		if len(r.Weights) != len(r.Experts) {
			return fmt.Errorf("layer %d position %d: %d experts but %d routing weights", r.Layer, r.Position, len(r.Experts), len(r.Weights))
		}
		for rank, ex := range r.Experts {
			if err := b.add(rid, r.Layer, r.Position, rank, r.TokenIndex, r.Phase, ex, r.Weights[rank]); err != nil {
				return err
			}
		}
	}
	return b.close()
}
