package store

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// Formats are the export formats.
func Formats() []string { return []string{"json", "csv", "perfetto"} }

// FormatInfo returns the content type and file extension of an export format.
func FormatInfo(format string) (contentType, ext string, err error) {
	switch format {
	case "json":
		return "application/json", ".json", nil
	case "csv":
		return "application/zip", ".csv.zip", nil // a zip of CSV files, and named so
	case "perfetto":
		return "application/json", ".trace.json", nil
	}
	return "", "", fmt.Errorf("unknown export format %q: use json, csv or perfetto", format)
}

// Export writes rec in format: json (the full nested record), csv (a zip
// with one CSV file per table) or perfetto (Chrome trace-event JSON).
func Export(w io.Writer, rec *profiler.Record, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	case "csv":
		return ExportCSV(w, rec)
	case "perfetto":
		return ExportPerfetto(w, rec)
	}
	_, _, err := FormatInfo(format)
	return err
}

// CSVTables lists the tables of the CSV export, in file order.
func CSVTables() []string {
	return []string{"runs", "tags", "phases", "tokens", "components", "deep_ops", "layer_metrics", "routes", "domain_energy", "power_samples"}
}

// ExportCSV writes a zip holding one CSV file per table.
func ExportCSV(w io.Writer, rec *profiler.Record) error {
	zw := zip.NewWriter(w)
	for _, t := range CSVTables() {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: t + ".csv", Method: zip.Deflate, Modified: rec.Run.CreatedAt})
		if err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
		if err := ExportCSVTable(f, rec, t); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	return nil
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func fmtP(v *float64) string {
	if v == nil {
		return ""
	}
	return fmtF(*v)
}

func fmtM(m profiler.Metric) string { return fmtP(m.Value) }

func energyCells(e profiler.Energy) []string {
	if e.Total == nil {
		return []string{"", "", "", "unavailable"}
	}
	return []string{fmtF(e.Total.GrossJ), fmtP(e.Total.NetJ), fmtF(e.Total.UncertaintyJ), e.Total.Label}
}

// tokenCount is a token count's cell: empty where nobody measured it (its
// source says "unavailable (…)": a window stopped without counts, a server
// that did not report its prompt tokens), never 0.
func tokenCount(n int, source string) string {
	if strings.HasPrefix(source, "unavailable") {
		return ""
	}
	return strconv.Itoa(n)
}

// ExportCSVTable writes one table of the CSV export as plain CSV.
func ExportCSVTable(w io.Writer, rec *profiler.Record, table string) error {
	cw := csv.NewWriter(w)
	var rows [][]string
	id := rec.Run.ID
	switch table {
	case "runs":
		rows = append(rows, []string{"id", "created_at", "finished_at", "status", "model_name", "prompt", "depth", "max_tokens", "tags",
			"duration_s", "input_tokens", "output_tokens", "prefill_tokens_per_second", "decode_tokens_per_second", "tokens_per_second",
			"total_energy_j", "net_energy_j", "energy_label", "joules_per_token", "joules_per_output_token", "joules_per_input_token",
			"output_input_ratio", "tokens_per_joule", "energy_delay_product_js", "energy_per_million_params_j", "cost_usd", "co2_g",
			"price_usd_per_kwh", "co2_g_per_kwh", "host_os", "host_cpu", "host_gpu",
			"kind", "endpoint", "api", "server_model", "input_tokens_source", "output_tokens_source", "note"})
		finished := ""
		if rec.Run.FinishedAt != nil {
			finished = rec.Run.FinishedAt.Format(time.RFC3339Nano)
		}
		row := []string{id, rec.Run.CreatedAt.Format(time.RFC3339Nano), finished, string(rec.Run.Status), rec.Run.ModelName, rec.Run.Prompt,
			rec.Run.Settings.Depth, strconv.Itoa(rec.Run.Settings.MaxTokens), joinTags(rec.Run.Tags)}
		if s := rec.Summary; s != nil {
			row = append(row, fmtM(s.DurationS), tokenCount(s.InputTokens, s.InputTokensSource), tokenCount(s.OutputTokens, s.OutputTokensSource), fmtM(s.PrefillTokensPerSecond),
				fmtM(s.DecodeTokensPerSecond), fmtM(s.TokensPerSecond), fmtM(s.TotalEnergyJ), fmtM(s.NetEnergyJ), s.TotalEnergyJ.Label,
				fmtM(s.JoulesPerToken), fmtM(s.JoulesPerOutputToken), fmtM(s.JoulesPerInputToken), fmtM(s.OutputInputRatio),
				fmtM(s.TokensPerJoule), fmtM(s.EnergyDelayProduct), fmtM(s.EnergyPerMParams), fmtM(s.CostUSD), fmtM(s.CO2Grams))
		} else {
			row = append(row, make([]string, 18)...)
			row[len(row)-10] = "unavailable"
		}
		row = append(row, fmtF(rec.Run.Settings.PriceUSDPerKWh), fmtF(rec.Run.Settings.CO2GPerKWh), rec.Run.Host.OS, rec.Run.Host.CPU, rec.Run.Host.GPU)
		var endpoint, api, serverModel, inSource, outSource string
		if x := rec.Run.External; x != nil {
			endpoint, api, serverModel = x.Endpoint+x.Route, x.API, x.ServerModel
		}
		if s := rec.Summary; s != nil {
			inSource, outSource = s.InputTokensSource, s.OutputTokensSource
		}
		row = append(row, profiler.KindOf(rec.Run.Meta), endpoint, api, serverModel, inSource, outSource, rec.Run.Note)
		rows = append(rows, row)
	case "tags":
		rows = append(rows, []string{"run_id", "tag"})
		for _, t := range rec.Run.Tags {
			rows = append(rows, []string{id, t})
		}
	case "phases":
		rows = append(rows, []string{"run_id", "phase", "start_ns", "end_ns", "window_start_ns", "window_end_ns", "energy_j", "net_energy_j", "uncertainty_j", "label"})
		for _, p := range rec.Phases {
			rows = append(rows, append([]string{id, p.Phase, i64(p.StartNs), i64(p.EndNs), i64(p.WindowStartNs), i64(p.WindowEndNs)}, energyCells(p.Energy)...))
		}
	case "tokens":
		rows = append(rows, []string{"run_id", "index", "token_id", "piece", "phase", "start_ns", "end_ns", "window_start_ns", "window_end_ns", "energy_j", "net_energy_j", "uncertainty_j", "label", "other_j", "chunk", "chunk_tokens"})
		for _, t := range rec.Tokens {
			other := ""
			if t.Energy.Total != nil {
				other = fmtF(t.OtherJ)
			}
			r := append([]string{id, strconv.Itoa(t.Index), strconv.Itoa(t.ID), t.Piece, t.Phase, i64(t.StartNs), i64(t.EndNs), i64(t.WindowStartNs), i64(t.WindowEndNs)}, energyCells(t.Energy)...)
			chunk, chunkTokens := "", ""
			if t.Chunk != nil {
				chunk, chunkTokens = strconv.Itoa(*t.Chunk), strconv.Itoa(t.ChunkTokens)
			}
			rows = append(rows, append(r, other, chunk, chunkTokens))
		}
	case "components":
		rows = append(rows, []string{"run_id", "seq", "token_index", "phase", "layer", "component", "start_ns", "end_ns", "positions", "energy_j", "uncertainty_j", "label", "act_mean", "act_std", "act_max_abs", "act_sparsity"})
		for i, c := range rec.Components {
			unc := ""
			if c.EnergyJ != nil {
				unc = fmtF(c.UncertaintyJ)
			}
			r := []string{id, strconv.Itoa(i), strconv.Itoa(c.TokenIndex), c.Phase, strconv.Itoa(c.Layer), c.Component, i64(c.StartNs), i64(c.EndNs), strconv.Itoa(c.Positions), fmtP(c.EnergyJ), unc, c.Label}
			if s := c.Stats; s != nil {
				r = append(r, fmtF(s.Mean), fmtF(s.Std), fmtF(s.MaxAbs), fmtF(s.Sparsity))
			} else {
				r = append(r, "", "", "", "")
			}
			rows = append(rows, r)
		}
	case "deep_ops":
		rows = append(rows, []string{"run_id", "seq", "token_index", "layer", "component", "attention_entropy", "attention_sparsity", "softmax_ns", "mlp_kill_ratio", "norm_variance_ratio",
			"router_entropy", "router_load_balance"})
		for i, c := range rec.Components {
			if d := c.Deep; d != nil {
				soft := ""
				if d.SoftmaxNs != nil {
					soft = i64(*d.SoftmaxNs)
				}
				rows = append(rows, []string{id, strconv.Itoa(i), strconv.Itoa(c.TokenIndex), strconv.Itoa(c.Layer), c.Component,
					fmtP(d.AttentionEntropy), fmtP(d.AttentionSparsity), soft, fmtP(d.MLPKillRatio), fmtP(d.NormVarianceRatio),
					fmtP(d.RouterEntropy), fmtP(d.RouterLoadBalance)})
			}
		}
	case "layer_metrics":
		rows = append(rows, []string{"run_id", "phase", "layer", "component", "calls", "total_ns", "energy_j", "label", "mean_max_abs", "mean_sparsity"})
		for _, l := range rec.Layers {
			rows = append(rows, []string{id, l.Phase, strconv.Itoa(l.Layer), l.Component, strconv.Itoa(l.Calls), i64(l.TotalNs), fmtP(l.EnergyJ), l.Label, fmtP(l.MeanAbs), fmtP(l.Sparsity)})
		}
	case "routes":
		rows = append(rows, []string{"run_id", "position", "layer", "token_index", "phase", "rank", "expert", "weight"})
		for _, r := range rec.Routing {
			for rank, ex := range r.Experts {
				w := ""
				if rank < len(r.Weights) {
					w = fmtF(r.Weights[rank])
				}
				rows = append(rows, []string{id, strconv.Itoa(r.Position), strconv.Itoa(r.Layer), strconv.Itoa(r.TokenIndex), r.Phase, strconv.Itoa(rank), strconv.Itoa(ex), w})
			}
		}
	case "domain_energy":
		rows = append(rows, []string{"run_id", "scope", "index", "domain", "gross_j", "net_j", "uncertainty_j", "coverage", "label"})
		add := func(scope, index string, e profiler.Energy) {
			for _, d := range sortedDomains(e.Domains) {
				de := e.Domains[d]
				rows = append(rows, []string{id, scope, index, string(d), fmtF(de.GrossJ), fmtP(de.NetJ), fmtF(de.UncertaintyJ), fmtF(de.Coverage), de.Label})
			}
		}
		if rec.Summary != nil {
			add("run", "", rec.Summary.Energy)
		}
		for _, p := range rec.Phases {
			add("phase", p.Phase, p.Energy)
		}
		for _, t := range rec.Tokens {
			add("token", strconv.Itoa(t.Index), t.Energy)
		}
	case "power_samples":
		rows = append(rows, []string{"run_id", "seq", "t0_ns", "t1_ns", "source", "kind", "domain", "energy_mj", "power_mw"})
		for i, s := range rec.Samples {
			for _, d := range sortedDomains(s.Domains) {
				r := s.Domains[d]
				e, p := "", ""
				if r.HasEnergy {
					e = fmtF(r.EnergyMJ)
				}
				if r.HasPower {
					p = fmtF(r.PowerMW)
				}
				rows = append(rows, []string{id, strconv.Itoa(i), i64(s.T0Ns), i64(s.T1Ns), s.Source, string(s.Kind), string(d), e, p})
			}
		}
	default:
		return fmt.Errorf("unknown csv table %q: use one of %v", table, CSVTables())
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("export csv %s: %w", table, err)
	}
	return nil
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func joinTags(tags []string) string {
	var b bytes.Buffer
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t)
	}
	return b.String()
}

func sortedDomains[V any](m map[power.Domain]V) []power.Domain {
	out := make([]power.Domain, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// traceEvent is one Chrome trace event (the Trace Event Format that
// ui.perfetto.dev opens). Times are microseconds.
type traceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  *float64       `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// Trace layout: pid 1 is inference (tid 1 phases, tid 2 tokens, tid 3
// component calls), pid 2 is power (one counter track per domain, in watts).
const (
	pidInference = 1
	pidPower     = 2
	tidPhases    = 1
	tidTokens    = 2
	tidComps     = 3
)

func us(ns int64) float64 { return float64(ns) / 1e3 }

func slice(name, cat string, tid int, a, b int64, args map[string]any) traceEvent {
	d := us(b - a)
	return traceEvent{Name: name, Cat: cat, Ph: "X", Ts: us(a), Dur: &d, Pid: pidInference, Tid: tid, Args: args}
}

func energyArgs(args map[string]any, e profiler.Energy) map[string]any {
	if e.Total != nil {
		args["energy_j"] = e.Total.GrossJ
		args["uncertainty_j"] = e.Total.UncertaintyJ
		if e.Total.NetJ != nil {
			args["net_energy_j"] = *e.Total.NetJ
		}
	}
	args["energy_label"] = "unavailable"
	if e.Total != nil {
		args["energy_label"] = e.Total.Label
	}
	return args
}

// ExportPerfetto writes the run as Chrome trace-event JSON: phases, tokens
// and component calls as slices ("ph":"X"), per-domain power as counter
// tracks ("ph":"C"). Times are µs from the run's start.
func ExportPerfetto(w io.Writer, rec *profiler.Record) error {
	meta := func(pid, tid int, kind, name string) traceEvent {
		return traceEvent{Name: kind, Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": name}}
	}
	ev := []traceEvent{
		meta(pidInference, 0, "process_name", "inference: "+rec.Run.ModelName),
		meta(pidInference, tidPhases, "thread_name", "phases"),
		meta(pidInference, tidTokens, "thread_name", "tokens"),
		meta(pidInference, tidComps, "thread_name", "components"),
		meta(pidPower, 0, "process_name", "power"),
	}
	if s := rec.Summary; s != nil && s.IdleStartNs != nil && s.IdleEndNs != nil {
		ev = append(ev, slice("idle baseline", "idle", tidPhases, *s.IdleStartNs, *s.IdleEndNs, nil))
	}
	for _, p := range rec.Phases {
		ev = append(ev, slice(p.Phase, "phase", tidPhases, p.StartNs, p.EndNs, energyArgs(map[string]any{
			"window_start_us": us(p.WindowStartNs), "window_end_us": us(p.WindowEndNs)}, p.Energy)))
	}
	for _, t := range rec.Tokens {
		ev = append(ev, slice(fmt.Sprintf("token %d", t.Index), "token", tidTokens, t.StartNs, t.EndNs, energyArgs(map[string]any{
			"index": t.Index, "token_id": t.ID, "piece": t.Piece}, t.Energy)))
	}
	for _, c := range rec.Components {
		name := c.Component
		if c.Layer >= 0 {
			name = fmt.Sprintf("L%d %s", c.Layer, c.Component)
		}
		args := map[string]any{"layer": c.Layer, "token_index": c.TokenIndex, "positions": c.Positions, "energy_label": c.Label}
		if c.EnergyJ != nil {
			args["energy_j"] = *c.EnergyJ
			args["uncertainty_j"] = c.UncertaintyJ
		}
		ev = append(ev, slice(name, "component", tidComps, c.StartNs, c.EndNs, args))
	}
	// Counter tracks hold each sample's average power from its start; a final
	// point at the last sample's end closes the step.
	lastEnd := map[string]int64{}
	for _, s := range rec.Samples {
		if s.T1Ns <= s.T0Ns {
			continue
		}
		args := map[string]any{}
		for _, d := range sortedDomains(s.Domains) {
			r := s.Domains[d]
			args[string(d)+"_W"] = r.Energy(s.T1Ns-s.T0Ns) * 1e6 / float64(s.T1Ns-s.T0Ns)
		}
		name := "power " + s.Source
		ev = append(ev, traceEvent{Name: name, Cat: string(s.Kind), Ph: "C", Ts: us(max(0, s.T0Ns)), Pid: pidPower, Args: args}) // the trace starts at the run's Start
		lastEnd[name] = s.T1Ns
	}
	names := make([]string, 0, len(lastEnd))
	for n := range lastEnd {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// Repeat the last values at the end so the final step has a width.
		for i := len(ev) - 1; i >= 0; i-- {
			if ev[i].Ph == "C" && ev[i].Name == n {
				ev = append(ev, traceEvent{Name: n, Cat: ev[i].Cat, Ph: "C", Ts: us(lastEnd[n]), Pid: pidPower, Args: ev[i].Args})
				break
			}
		}
	}
	out := struct {
		TraceEvents     []traceEvent   `json:"traceEvents"`
		DisplayTimeUnit string         `json:"displayTimeUnit"`
		Metadata        map[string]any `json:"metadata"`
	}{ev, "ms", map[string]any{"run_id": rec.Run.ID, "model_name": rec.Run.ModelName, "created_at": rec.Run.CreatedAt, "tool": "energyprofiler"}}
	enc := json.NewEncoder(w)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("export perfetto: %w", err)
	}
	return nil
}
