package profiler

import (
	"time"

	"energyprofiler/backend/power"
	"energyprofiler/backend/thermal"
)

// Status is where a run is in its life.
type Status string

const (
	// StatusQueued: accepted and waiting for its turn (stored at once, so
	// every accepted run can be found).
	StatusQueued      Status = "queued"
	StatusRunning     Status = "running"
	StatusCompleted   Status = "completed"
	StatusFailed      Status = "failed"
	StatusCancelled   Status = "cancelled"
	StatusInterrupted Status = "interrupted" // the process died while it ran or waited
	// StatusAbandoned: an energy window that was never stopped, closed
	// after its timeout.
	StatusAbandoned Status = "abandoned"
)

// Sampling is how tokens were chosen.
type Sampling struct {
	Greedy      bool    `json:"greedy"`
	Temperature float64 `json:"temperature,omitempty"`
	TopP        float64 `json:"top_p,omitempty"`
	TopK        int     `json:"top_k,omitempty"`
	Seed        int64   `json:"seed,omitempty"`
}

// Settings are the knobs a run was made with; they are stored with it so a
// summary can be recomputed and compared.
type Settings struct {
	Depth     string   `json:"depth"` // off | module | deep
	MaxTokens int      `json:"max_tokens"`
	Sampling  Sampling `json:"sampling"`
	// Power is the source selection asked for ("auto" or a list).
	Power string `json:"power,omitempty"`
	// IdleS is the idle baseline's length in seconds; 0 when skipped.
	IdleS float64 `json:"idle_s"`
	// PriceUSDPerKWh and CO2GPerKWh turn energy into cost and emissions.
	PriceUSDPerKWh float64 `json:"price_usd_per_kwh"`
	CO2GPerKWh     float64 `json:"co2_g_per_kwh"`
	CO2Preset      string  `json:"co2_preset"`
	// RepeatGroup ties runs made by one `profile --repeat N` (or one API
	// request with repeat) together.
	RepeatGroup string `json:"repeat_group,omitempty"`
	// Backend names the compute backend that ran the model ("cpu-avx512 x8",
	// "metal (Apple M2 Pro)"), Device what it ran on (the GPU's name, or the
	// CPU kernels and threads), and BackendNote why --backend auto did not
	// use the GPU.
	Backend     string `json:"backend,omitempty"`
	Device      string `json:"device,omitempty"`
	BackendNote string `json:"backend_note,omitempty"`
	// Chat is set when the prompt was formatted as one user message by the
	// model's chat template; Meta.Prompt stays the text the user wrote.
	Chat *ChatSettings `json:"chat,omitempty"`
}

// ChatSettings say how a chat run's prompt was formatted.
type ChatSettings struct {
	// Template says where the chat template came from
	// ("tokenizer_config.json", "GGUF tokenizer.chat_template", ...).
	Template string `json:"template"`
	// RenderedPrompt is the text the model was given.
	RenderedPrompt string `json:"rendered_prompt"`
	// StopTokens are the end-of-turn tokens that ended generation.
	StopTokens []string `json:"stop_tokens"`
}

// Architecture holds the model facts a summary normalises by.
type Architecture struct {
	ModelType     string `json:"model_type,omitempty"`
	Layers        int    `json:"layers,omitempty"`
	Hidden        int    `json:"hidden,omitempty"`
	Intermediate  int    `json:"intermediate,omitempty"`
	Heads         int    `json:"heads,omitempty"`
	KVHeads       int    `json:"kv_heads,omitempty"`
	AttentionKind string `json:"attention_kind,omitempty"` // MHA | GQA | MQA
	ParamsTotal   int64  `json:"params_total,omitempty"`
	// ParamsActive is what one token uses (less the routed experts it is
	// not sent to); it equals ParamsTotal for a dense model.
	ParamsActive int64 `json:"params_active,omitempty"`
	// Mixture of experts: Experts per MoE layer, TopK chosen per token,
	// SharedExperts run for every token; zero for a dense model.
	Experts         int    `json:"experts,omitempty"`
	TopK            int    `json:"top_k,omitempty"`
	SharedExperts   int    `json:"shared_experts,omitempty"`
	MoELayers       int    `json:"moe_layers,omitempty"`
	Dtype           string `json:"dtype,omitempty"`
	KVBytesPerToken int64  `json:"kv_bytes_per_token,omitempty"`
	FLOPsPerToken   int64  `json:"flops_per_token,omitempty"`
}

// Host describes the machine a run was made on, and the thermal and power
// state its OS reported as the run started and ended.
type Host struct {
	// ID tells machines apart across a team's database: a hash of the
	// machine's own id (never the raw id), or of ENERGYPROFILER_MACHINE
	// where that names the machine. Empty for runs recorded before.
	ID         string              `json:"id,omitempty"`
	OS         string              `json:"os"`
	Arch       string              `json:"arch"`
	CPU        string              `json:"cpu,omitempty"`
	GPU        string              `json:"gpu,omitempty"`
	Hostname   string              `json:"hostname,omitempty"`
	CPUs       int                 `json:"cpus"`
	Conditions *thermal.Conditions `json:"conditions,omitempty"`
}

// SourceUse is one power source a run read, with its kind and domains.
type SourceUse struct {
	Name    string         `json:"name"`
	Kind    power.Kind     `json:"kind"`
	Domains []power.Domain `json:"domains"`
}

// Meta is what the caller says about a run before it starts.
type Meta struct {
	// ID, when set, is the UUID the run is stored under (an API hands it out
	// while the run is still queued); empty means a new random UUID.
	ID        string        `json:"-"`
	ModelName string        `json:"model_name"`
	ModelPath string        `json:"model_path,omitempty"`
	Prompt    string        `json:"prompt"`
	Settings  Settings      `json:"settings"`
	Tags      []string      `json:"tags"`
	Arch      *Architecture `json:"architecture,omitempty"`
	// Kind is engine (empty in runs stored before kinds), server or window.
	Kind string `json:"kind,omitempty"`
	// External describes a server run; nil for other kinds.
	External *External `json:"external,omitempty"`
	// Note is free text a window was given (what it measured).
	Note string `json:"note,omitempty"`
}

// RunInfo identifies a run and says what it was.
type RunInfo struct {
	ID         string      `json:"id"`
	CreatedAt  time.Time   `json:"created_at"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
	Status     Status      `json:"status"`
	Error      string      `json:"error,omitempty"`
	Host       Host        `json:"host"`
	Sources    []SourceUse `json:"sources"`
	Meta
}

// PhaseRecord is one engine phase. StartNs/EndNs are what the engine
// reported; the attribution window [WindowStartNs, WindowEndNs] extends a
// phase to the next phase's start so that phases tile the run. All times are
// nanoseconds from the run's start.
type PhaseRecord struct {
	Phase         string `json:"phase"`
	StartNs       int64  `json:"start_ns"`
	EndNs         int64  `json:"end_ns"`
	WindowStartNs int64  `json:"window_start_ns"`
	WindowEndNs   int64  `json:"window_end_ns"`
	Energy        Energy `json:"energy"`
}

// TokenRecord is one generated token. Decode tokens' attribution windows
// tile the decode phase: each runs from the previous token's end (or the
// phase start) to its own end, the last one to the phase end. OtherJ is the
// token's energy outside every traced component (sampling, glue), so that
// components + other = token.
type TokenRecord struct {
	Index         int     `json:"index"`
	ID            int     `json:"token_id"`
	Piece         string  `json:"piece"`
	Phase         string  `json:"phase"`
	StartNs       int64   `json:"start_ns"`
	EndNs         int64   `json:"end_ns"`
	WindowStartNs int64   `json:"window_start_ns"`
	WindowEndNs   int64   `json:"window_end_ns"`
	Energy        Energy  `json:"energy"`
	OtherJ        float64 `json:"other_j"`
	// Chunk is the streamed chunk that carried the token (server runs);
	// ChunkTokens > 1 means the chunk carried several tokens and its
	// interval was split evenly between them.
	Chunk       *int `json:"chunk,omitempty"`
	ChunkTokens int  `json:"chunk_tokens,omitempty"`
}

// ActivationStats mirror the engine's statistics of a component's output.
type ActivationStats struct {
	Mean     float64 `json:"mean"`
	Std      float64 `json:"std"`
	MaxAbs   float64 `json:"max_abs"`
	Sparsity float64 `json:"sparsity"`
}

// DeepStats mirror the engine's deep-depth measurements; nil fields do not
// apply to the component.
type DeepStats struct {
	AttentionEntropy  *float64 `json:"attention_entropy,omitempty"`
	AttentionSparsity *float64 `json:"attention_sparsity,omitempty"`
	SoftmaxNs         *int64   `json:"softmax_ns,omitempty"`
	MLPKillRatio      *float64 `json:"mlp_kill_ratio,omitempty"`
	NormVarianceRatio *float64 `json:"norm_variance_ratio,omitempty"`
	RouterEntropy     *float64 `json:"router_entropy,omitempty"`
	RouterLoadBalance *float64 `json:"router_load_balance,omitempty"`
}

// RouteRecord is one router decision of an MoE layer: the experts chosen
// for the token at sequence position Position (0 is the first prompt
// token), best first, with their routing weights. TokenIndex is the
// generated token whose forward pass routed it, as for components: the
// prompt's positions belong to token 0, which the prefill pass produces.
type RouteRecord struct {
	TokenIndex int       `json:"token_index"`
	Phase      string    `json:"phase"`
	Layer      int       `json:"layer"`
	Position   int       `json:"position"`
	Experts    []int     `json:"experts"`
	Weights    []float64 `json:"weights"`
}

// ComponentRecord is one component call. TokenIndex is −1 for calls that
// belong to no token (the prompt's prefill pass). EnergyJ is the total over
// domains (nil when unavailable).
type ComponentRecord struct {
	TokenIndex   int              `json:"token_index"`
	Phase        string           `json:"phase"`
	Layer        int              `json:"layer"`
	Component    string           `json:"component"`
	StartNs      int64            `json:"start_ns"`
	EndNs        int64            `json:"end_ns"`
	Positions    int              `json:"positions"`
	EnergyJ      *float64         `json:"energy_j"`
	UncertaintyJ float64          `json:"uncertainty_j"`
	Basis        Basis            `json:"basis"`
	Label        string           `json:"label"`
	Stats        *ActivationStats `json:"stats,omitempty"`
	Deep         *DeepStats       `json:"deep,omitempty"`
}

// LayerMetric aggregates one (phase, layer, component) over the run.
type LayerMetric struct {
	Phase     string   `json:"phase"`
	Layer     int      `json:"layer"`
	Component string   `json:"component"`
	Calls     int      `json:"calls"`
	TotalNs   int64    `json:"total_ns"`
	EnergyJ   *float64 `json:"energy_j"`
	Label     string   `json:"label"`
	MeanAbs   *float64 `json:"mean_max_abs,omitempty"`  // mean of max |x| over calls
	Sparsity  *float64 `json:"mean_sparsity,omitempty"` // mean sparsity over calls
}

// SampleRecord is one power sample, with times from the run's start.
type SampleRecord struct {
	T0Ns    int64                          `json:"t0_ns"`
	T1Ns    int64                          `json:"t1_ns"`
	Source  string                         `json:"source"`
	Kind    power.Kind                     `json:"kind"`
	Domains map[power.Domain]power.Reading `json:"domains"`
}

// Record is everything known about a finished run: what the store keeps and
// the JSON export writes.
type Record struct {
	Run        RunInfo           `json:"run"`
	Summary    *Summary          `json:"summary,omitempty"`
	Phases     []PhaseRecord     `json:"phases"`
	Tokens     []TokenRecord     `json:"tokens"`
	Components []ComponentRecord `json:"components"`
	Layers     []LayerMetric     `json:"layers"`
	// Routing holds every MoE router decision (module depth and deeper),
	// ordered by position, then layer; empty for a dense model.
	Routing []RouteRecord  `json:"routing,omitempty"`
	Samples []SampleRecord `json:"power_samples"`
}
