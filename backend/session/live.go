package session

import (
	"fmt"

	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// LiveEvent is one message of the dashboard's live stream: a type and a
// JSON-encodable payload. The README's API section lists the types.
type LiveEvent struct {
	Type string
	Data map[string]any
}

// Translate turns a profiler live event into the dashboard's live-stream
// message. ok is false for events the stream does not carry: the run's end,
// which the queue reports with the stored summary, and power samples, which
// the server relays from the samplers all the time, runs or not (PowerData).
func Translate(ev profiler.Event, req Request, sources []profiler.SourceUse) (out LiveEvent, ok bool) {
	tMs := float64(ev.TNs) / 1e6
	switch ev.Type {
	case "run_started":
		return LiveEvent{"run", map[string]any{
			"model_name": req.ModelName, "prompt": req.Prompt, "depth": req.Depth,
			"max_tokens": req.MaxTokens, "sources": sources,
		}}, true
	case "idle":
		return LiveEvent{"phase", map[string]any{"phase": "idle_baseline", "t_ms": tMs}}, true
	case "phase":
		return LiveEvent{"phase", map[string]any{"phase": ev.Phase, "t_ms": tMs}}, true
	case "position":
		layer := -1
		if ev.Layer != nil {
			layer = *ev.Layer
		}
		return LiveEvent{"op", map[string]any{
			"phase": ev.Phase, "section": section(layer, ev.Component), "layer": layer, "component": ev.Component,
		}}, true
	case "token":
		if ev.Token == nil {
			return LiveEvent{}, false
		}
		t := ev.Token
		var powerW any
		if t.EnergyJ != nil && t.DurationMs > 0 {
			powerW = *t.EnergyJ / (t.DurationMs / 1e3)
		}
		return LiveEvent{"token", map[string]any{
			"index": t.Index, "token_id": t.ID, "piece": t.Text, "duration_ms": t.DurationMs,
			"energy_j": t.EnergyJ, "energy_label": t.Label, "power_w": powerW,
		}}, true
	case "heatmap":
		if ev.Heatmap == nil {
			return LiveEvent{}, false
		}
		h := ev.Heatmap
		timeMs := make([][]float64, len(h.DurationUs))
		for i, row := range h.DurationUs {
			timeMs[i] = make([]float64, len(row))
			for j, us := range row {
				timeMs[i][j] = us / 1e3
			}
		}
		var energy any
		if h.EnergyJ != nil {
			energy = h.EnergyJ
		}
		return LiveEvent{"heatmap", map[string]any{
			"token_index": h.TokenIndex, "layers": len(h.DurationUs), "components": h.Components,
			"energy_j": energy, "time_ms": timeMs, "label": h.Label,
		}}, true
	}
	return LiveEvent{}, false
}

// PowerData renders one power sample for the live stream: watts per domain,
// the source's total and the machine's total, which adds the latest total of
// every source (latest maps source name to it and is updated here).
func PowerData(smp power.Sample, latest map[string]float64) map[string]any {
	dur := smp.T1 - smp.T0
	watts := map[power.Domain]float64{}
	domains := map[string]any{}
	for d, r := range smp.Domains {
		w := r.PowerMW / 1e3
		if !r.HasPower {
			if dur <= 0 {
				continue
			}
			w = r.EnergyMJ / (float64(dur) / 1e6) // mJ per ms is W
		}
		watts[d] = w
		domains[string(d)] = map[string]float64{"power_w": w}
	}
	data := map[string]any{
		"t_ms": float64(smp.T1) / 1e6, "source": smp.Source, "kind": smp.Kind, "domains": domains,
		"source_total_w": nil, "total_w": nil,
	}
	if w, ok := SourceTotalWatts(watts); ok {
		latest[smp.Source] = w
		data["source_total_w"] = w
		total := 0.0
		for _, v := range latest {
			total += v
		}
		data["total_w"] = total
	}
	return data
}

// SourceTotalWatts adds up one source's domains without counting anything
// twice: a package reading already contains the CPU (and, for powermetrics'
// combined power, the GPU and ANE), so when one is present the total is the
// package plus DRAM, which no package reading includes.
func SourceTotalWatts(w map[power.Domain]float64) (float64, bool) {
	if len(w) == 0 {
		return 0, false
	}
	if pkg, ok := w[power.DomainPackage]; ok {
		return pkg + w[power.DomainDRAM], true
	}
	total := 0.0
	for _, v := range w {
		total += v
	}
	return total, true
}

func section(layer int, component string) string {
	if layer < 0 {
		return component
	}
	return fmt.Sprintf("layer %d · %s", layer, component)
}
