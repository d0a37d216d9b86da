package profiler

import "energyprofiler/backend/power"

// Event is one live update for dashboards. Type is one of:
//
//	run_started  the run exists (RunID, Status)
//	idle         the idle baseline is being measured
//	phase        a phase began (Phase)
//	position     where the forward pass is (Phase, Layer, Component); at most one per 10 ms
//	token        a token was generated (Token)
//	heatmap      per-layer × component time and energy of the last token (Heatmap)
//	power        a power sample arrived (Power)
//	completed    the run ended (Status, Error, Summary)
//
// Live energies use the latest sample's power (they are apportioned and
// provisional); the stored record holds the final attribution.
type Event struct {
	Type      string     `json:"type"`
	RunID     string     `json:"run_id"`
	TNs       int64      `json:"t_ns"` // ns since the run's Start
	Phase     string     `json:"phase,omitempty"`
	Layer     *int       `json:"layer,omitempty"`
	Component string     `json:"component,omitempty"`
	Token     *LiveToken `json:"token,omitempty"`
	Power     *LivePower `json:"power,omitempty"`
	Heatmap   *Heatmap   `json:"heatmap,omitempty"`
	Status    Status     `json:"status,omitempty"`
	Error     string     `json:"error,omitempty"`
	Summary   *Summary   `json:"summary,omitempty"`
}

// LiveToken is a token as it is generated.
type LiveToken struct {
	Index      int      `json:"index"`
	ID         int      `json:"token_id"`
	Text       string   `json:"text"`
	DurationMs float64  `json:"duration_ms"`
	EnergyJ    *float64 `json:"energy_j"`
	Label      string   `json:"label"`
}

// LivePower is one sample's average power per domain, in watts.
type LivePower struct {
	Source string                   `json:"source"`
	Kind   power.Kind               `json:"kind"`
	Watts  map[power.Domain]float64 `json:"watts"`
}

// Heatmap is one token's per-layer cost: rows are layers, columns follow
// Components (the layer components the model traced, in the order first
// seen: engine.LayerComponents for a Llama-family model, plus q_norm, the
// Gemma norms or the MoE router and experts where the model has them).
// EnergyJ is nil when no power is known yet.
type Heatmap struct {
	TokenIndex int         `json:"token_index"`
	Components []string    `json:"components"`
	DurationUs [][]float64 `json:"duration_us"`
	EnergyJ    [][]float64 `json:"energy_j,omitempty"`
	Label      string      `json:"label"`
}
