package profiler

import "maps"

// Kinds of runs. A run's kind says what was measured: our own engine
// generating text, a request to an inference server in another process
// (ollama, llama.cpp, vLLM, … through their HTTP APIs), or an energy window
// around any code (a training step, a whole command).
const (
	KindEngine = "engine"
	KindServer = "server"
	KindWindow = "window"
)

// Kinds lists every run kind, for filters and validation.
func Kinds() []string { return []string{KindEngine, KindServer, KindWindow} }

// KindOf returns a run's kind; runs stored before kinds existed are engine runs.
func KindOf(m Meta) string {
	if m.Kind == "" {
		return KindEngine
	}
	return m.Kind
}

// External describes a server run: what was asked of which server, what the
// server said about it, and how this run's token counts were obtained.
// It never holds an API key.
type External struct {
	// Endpoint is the server's base URL (without credentials), API its
	// protocol ("openai" or "ollama") and Route the path requested.
	Endpoint string `json:"endpoint"`
	// EndpointName is the saved endpoint's name, when one was used.
	EndpointName string `json:"endpoint_name,omitempty"`
	API          string `json:"api"`
	Route        string `json:"route"`
	// ServerModel is the model's name as the server reported it (the
	// requested name when the server did not say).
	ServerModel string `json:"server_model"`
	// Request holds the request's parameters (max tokens, sampling, chat
	// or completion), never a key.
	Request map[string]any `json:"request"`
	// Remote is true when the server is not on this machine; then the
	// energy is this machine's, not the server's, and PowerNote says so.
	Remote    bool   `json:"remote"`
	PowerNote string `json:"power_note,omitempty"`
	// InputTokensSource and OutputTokensSource say where the token counts
	// came from: "reported by the server (usage)", "reported by the server
	// (ollama eval_count)", "counted (one per streamed chunk)" or
	// "unavailable (…)".
	InputTokensSource  string `json:"input_tokens_source"`
	OutputTokensSource string `json:"output_tokens_source"`
	// ReportedInputTokens and ReportedOutputTokens are what the server
	// claimed, kept even when not believed (see Notes).
	ReportedInputTokens  *int `json:"reported_input_tokens,omitempty"`
	ReportedOutputTokens *int `json:"reported_output_tokens,omitempty"`
	// Chunks is how many streamed chunks carried text; SplitChunks how many
	// of them carried several tokens and had their interval split evenly.
	Chunks      int `json:"chunks"`
	SplitChunks int `json:"split_chunks"`
	// ServerTimings are the durations the server reported about itself
	// (ollama's *_duration in ns, llama.cpp's timings in ms), stored
	// beside ours and named with their unit.
	ServerTimings map[string]float64 `json:"server_timings,omitempty"`
	// FinishReason is the server's reason for stopping ("stop", "length").
	FinishReason string `json:"finish_reason,omitempty"`
	// Notes record anything the client noticed and worked around: lines
	// that were not JSON, a missing [DONE], token counts not believed.
	Notes []string `json:"notes,omitempty"`
}

// UnavailableExternal is why a server run has no layers or components:
// the model runs in another process that cannot be traced.
const UnavailableExternal = "unavailable (external server): the model runs in another process, so its layers and components cannot be traced"

// UnavailableWindow is why a window has no layers, components or tokens.
const UnavailableWindow = "unavailable (energy window): a window measures whatever ran during it, not a model's forward pass"

func cloneExternal(x *External) *External {
	if x == nil {
		return nil
	}
	c := *x
	c.Notes = append([]string(nil), x.Notes...)
	c.Request = maps.Clone(x.Request)
	c.ServerTimings = maps.Clone(x.ServerTimings)
	return &c
}
