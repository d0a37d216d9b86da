package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

// RunStore is what the API needs from storage. The store package's adapter
// implements it; tests use fakes.
type RunStore interface {
	ListRuns(ctx context.Context, q RunQuery) (RunPage, error)
	// GetRun returns the run's full detail, JSON-encodable.
	GetRun(ctx context.Context, id string) (any, error)
	DeleteRun(ctx context.Context, id string) error
	// ExportRun renders a run in format; table, with csv, asks for one
	// table as plain CSV instead of the zip of them all.
	ExportRun(ctx context.Context, id, format, table string) (Export, error)
	CompareRuns(ctx context.Context, ids []string) (any, error)
}

// PartialRunStore can leave a run's bulkiest parts out (GET
// /api/profiling/run/{id}?omit=components,layers,routing), for views that
// do not draw them. A RunStore may implement it.
type PartialRunStore interface {
	GetRunOmitting(ctx context.Context, id string, omit []string) (any, error)
}

// MachineStore is what a store that records machines adds: the machines
// list and comparisons grouped by machine. A RunStore may implement it.
type MachineStore interface {
	// ListMachines returns the machines with stored runs, JSON-encodable.
	ListMachines(ctx context.Context) (any, error)
	// CompareByMachine pools the runs of ids (as CompareRuns takes them)
	// and compares them grouped by the machine they ran on.
	CompareByMachine(ctx context.Context, ids []string) (any, error)
}

// Models lists and resolves the models folder.
type Models interface {
	ListModels(ctx context.Context) ([]ModelInfo, error)
	// Resolve maps a model name from a request to its folder, refusing
	// anything outside the models folder (ErrBadRequest) and unknown names
	// (ErrNotFound).
	Resolve(name string) (string, error)
}

// ErrNotFound and ErrBadRequest let the API's dependencies say which status
// code an error deserves.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: the server cannot do it now (its database cannot be
	// written, say); 503.
	ErrUnavailable = errors.New("unavailable")
)

// RunQuery filters, sorts and pages the run list.
type RunQuery struct {
	Search string
	Model  string
	Tags   []string
	Status string
	From   time.Time // zero: no lower bound
	To     time.Time // zero: no upper bound
	Kinds  []string  // engine, server, window; empty: all
	Sort   string    // created_at | duration | energy | joules_per_token | tokens_per_second
	// Machine is a machine id: only runs made on it.
	Machine string
	Desc    bool
	Limit   int
	Offset  int
}

// RunListItem is one row of the run list. Numbers that were not measured are
// null, never 0.
//
// created_at is the local wall-clock time without an offset
// ("2026-01-15T14:03:22.123"), so that a script's naive
// datetime.fromisoformat(run["created_at"]) compares with datetime.now() as
// the user's guide does; created_at_utc is the same instant in RFC 3339 UTC,
// for programs.
type RunListItem struct {
	ID              string    `json:"id"`
	Created         time.Time `json:"-"`
	CreatedAt       string    `json:"created_at"`
	CreatedAtUTC    string    `json:"created_at_utc"`
	ModelName       string    `json:"model_name"`
	Prompt          string    `json:"prompt"`
	DurationS       *float64  `json:"duration_s"`
	TotalEnergyJ    *float64  `json:"total_energy_j"`
	JoulesPerToken  *float64  `json:"joules_per_token"`
	TokensPerSecond *float64  `json:"tokens_per_second"`
	// TokensPerJoule is output tokens per joule of the whole run; EDP per
	// token is J/token × s/token, the energy-delay product normalised so
	// runs of different lengths compare.
	TokensPerJoule *float64 `json:"tokens_per_joule"`
	EDPPerTokenJS  *float64 `json:"edp_per_token_js"`
	InputTokens    *int64   `json:"input_tokens"`
	OutputTokens   *int64   `json:"output_tokens"`
	EnergyLabel    string   `json:"energy_label"`
	Tags           []string `json:"tags"`
	Status         string   `json:"status"`
	Depth          string   `json:"depth"`
	Backend        string   `json:"backend"`
	Dtype          string   `json:"dtype"`
	RepeatGroup    string   `json:"repeat_group"`
	// Kind is engine, server or window.
	Kind string `json:"kind"`
	// The machine the run ran on (empty for runs recorded before machines
	// were) and its power sources' names, comma-separated.
	MachineID    string `json:"machine_id"`
	MachineName  string `json:"machine_name"`
	PowerSources string `json:"power_sources"`
}

// RunPage is one page of the run list; Total counts every match. The API
// sends Runs as the body and Total in the X-Total-Count header.
type RunPage struct {
	Runs  []RunListItem `json:"runs"`
	Total int           `json:"total"`
}

// Export is a downloadable rendering of a run.
type Export struct {
	ContentType string
	Filename    string
	Data        []byte
}

// ModelInfo is one entry of the models list: the name, then the
// architecture facts flattened beside it.
type ModelInfo struct {
	Name  string
	Demo  bool
	Facts any    // JSON-encodable object; nil when the config is unreadable
	Error string // why the model cannot be used
	// Where the model is and what it is: Source ("models folder",
	// "huggingface", "ollama", "lmstudio"), Format ("safetensors",
	// "gguf"), Quantization ("BF16", "Q4_K_M"; "" unknown), SizeBytes
	// (0 unknown), Complete (false for an unfinished download) with Note
	// saying what is missing.
	Source       string
	Format       string
	Quantization string
	SizeBytes    int64
	Complete     bool
	Note         string
}

func (m ModelInfo) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	if m.Facts != nil {
		b, err := json.Marshal(m.Facts)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("model %s facts are not an object: %w", m.Name, err)
		}
	}
	out["name"] = m.Name
	out["demo"] = m.Demo
	if m.Error != "" {
		out["error"] = m.Error
	}
	if m.Source != "" {
		out["source"], out["format"], out["complete"] = m.Source, m.Format, m.Complete
		out["quantization"], out["size_bytes"] = nil, nil // unknown, never 0
		if m.Quantization != "" {
			out["quantization"] = m.Quantization
		}
		if m.SizeBytes > 0 {
			out["size_bytes"] = m.SizeBytes
		}
		if m.Note != "" {
			out["note"] = m.Note
		}
		// A file (or folder) our engine runs, told apart from a server's
		// model of the same name (whose facts carry their own label).
		out["label"] = fmt.Sprintf("file: %s from %s, run by the built-in engine", m.Format, m.Source)
	}
	return json.Marshal(out)
}

// GenerateRequest is the body of POST /api/profiling/generate. Field names
// are the seed's, so its scripts work unchanged.
type GenerateRequest struct {
	ModelName      string   `json:"model_name"`
	Prompt         string   `json:"prompt"`
	ProfilingDepth string   `json:"profiling_depth"`
	Tags           []string `json:"tags"`
	MaxLength      int      `json:"max_length"`
	Wait           bool     `json:"wait"`

	Greedy      *bool    `json:"greedy,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Power       string   `json:"power,omitempty"`
	IdleS       *float64 `json:"idle_s,omitempty"`
	// Backend is the compute backend: auto (default), cpu or metal.
	Backend string `json:"backend,omitempty"`

	// Repeat profiles the same request this many times (default 1) as one
	// repeat group, which Compare treats as one arm. CooldownS pauses
	// before every repeat after the first (default 5 s) so each starts from
	// a similar temperature.
	Repeat    int      `json:"repeat,omitempty"`
	CooldownS *float64 `json:"cooldown_s,omitempty"`

	// PriceUSDPerKWh and the grid's carbon intensity turn energy into cost
	// and CO₂: CO2Preset names a region (us, california, texas, eu) or is
	// "custom" with CO2GPerKWh. Unset, the defaults apply ($0.12/kWh, us).
	PriceUSDPerKWh *float64 `json:"price_usd_per_kwh,omitempty"`
	CO2Preset      string   `json:"co2_preset,omitempty"`
	CO2GPerKWh     *float64 `json:"co2_g_per_kwh,omitempty"`

	// Endpoint, when set, sends the prompt to an inference server instead
	// of our engine: a saved endpoint's name or a URL. API (openai or
	// ollama) and Chat say how to ask it. For our engine, Chat formats the
	// prompt as one user message with the model's chat template and stops
	// at its end-of-turn tokens. A model named "ENDPOINT:MODEL"
	// (as the models list shows server models) needs no endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	API      string `json:"api,omitempty"`
	Chat     *bool  `json:"chat,omitempty"`

	// Messages, set by the /v1 chat endpoint, is the conversation to answer
	// (Prompt is then its chat.Plain text, for listing the run).
	Messages []chat.Message `json:"-"`

	// ModelPath is the resolved folder; set by the API, never by clients.
	ModelPath string `json:"-"`
	// Target is the resolved server target of a server run (set by
	// Servers.Target); nil for an engine run.
	Target any `json:"-"`
	// OnToken, when set, receives each generated piece of text as it is
	// produced (the /v1 endpoint streams it); it must be quick.
	OnToken func(piece string) `json:"-"`
	// RepeatGroup, RepeatIndex (1-based) and RepeatCount place one queued
	// run in its repeat group; Cooldown is its pause before it starts.
	RepeatGroup string        `json:"-"`
	RepeatIndex int           `json:"-"`
	RepeatCount int           `json:"-"`
	Cooldown    time.Duration `json:"-"`
}

// Limits on what one request may ask for.
const (
	maxBodyBytes  = 64 << 10
	maxPromptLen  = 32 << 10
	maxNewTokens  = 4096
	maxTags       = 20
	maxTagLen     = 64
	maxCompareIDs = 4
	// maxGroupRuns bounds one comparison group (the runs of a repeat).
	maxGroupRuns = 32
	// minIdleS is the shortest idle baseline; 0 skips it.
	minIdleS     = 0.001
	maxRepeat    = 50
	maxCooldownS = 600
	// defaultCooldownS is the pause between repeats when none is given
	// (ML.ENERGY's Zeus uses 5 s between trials).
	defaultCooldownS = 5.0
)

func (r *GenerateRequest) validate() error {
	if strings.TrimSpace(r.ModelName) == "" {
		return errors.New("model_name is required (see GET /api/profiling/models)")
	}
	if r.Prompt == "" {
		return errors.New("prompt is required")
	}
	if len(r.Prompt) > maxPromptLen || !utf8.ValidString(r.Prompt) {
		return fmt.Errorf("prompt must be valid UTF-8 of at most %d bytes", maxPromptLen)
	}
	switch r.ProfilingDepth {
	case "":
		r.ProfilingDepth = "module"
	case "module", "deep":
	default:
		return fmt.Errorf("profiling_depth %q: use \"module\" or \"deep\"", r.ProfilingDepth)
	}
	if r.MaxLength == 0 {
		r.MaxLength = 64
	}
	if r.MaxLength < 1 || r.MaxLength > maxNewTokens {
		return fmt.Errorf("max_length %d: use 1 to %d new tokens", r.MaxLength, maxNewTokens)
	}
	if len(r.Tags) > maxTags {
		return fmt.Errorf("%d tags: at most %d", len(r.Tags), maxTags)
	}
	for _, t := range r.Tags {
		if t == "" || len(t) > maxTagLen || strings.ContainsAny(t, ",\n") {
			return fmt.Errorf("tag %q: tags are 1-%d characters without commas or newlines", t, maxTagLen)
		}
	}
	// Written as !(in range) so that NaN, were a decoder ever to produce
	// one, is refused too.
	if r.Temperature != nil && !(*r.Temperature >= 0 && *r.Temperature <= 5) {
		return errors.New("temperature must be between 0 and 5")
	}
	if r.TopP != nil && !(*r.TopP > 0 && *r.TopP <= 1) {
		return errors.New("top_p must be in (0, 1]")
	}
	if r.TopK != nil && *r.TopK < 0 {
		return errors.New("top_k must be ≥ 0")
	}
	if r.IdleS != nil && !(*r.IdleS == 0 || *r.IdleS >= minIdleS && *r.IdleS <= 60) {
		return fmt.Errorf("idle_s must be 0 (no idle baseline) or from %g to 60 seconds", minIdleS)
	}
	if r.Repeat == 0 {
		r.Repeat = 1
	}
	if r.Repeat < 1 || r.Repeat > maxRepeat {
		return fmt.Errorf("repeat %d: use 1 to %d runs", r.Repeat, maxRepeat)
	}
	if r.CooldownS != nil && !(*r.CooldownS >= 0 && *r.CooldownS <= maxCooldownS) {
		return fmt.Errorf("cooldown_s must be between 0 and %d seconds", maxCooldownS)
	}
	if r.PriceUSDPerKWh != nil && !(*r.PriceUSDPerKWh > 0 && *r.PriceUSDPerKWh <= profiler.MaxPriceUSDPerKWh) {
		return fmt.Errorf("price_usd_per_kwh must be above 0 and at most %d", profiler.MaxPriceUSDPerKWh)
	}
	if r.CO2GPerKWh != nil && !(*r.CO2GPerKWh > 0 && *r.CO2GPerKWh <= profiler.MaxCO2GPerKWh) {
		return fmt.Errorf("co2_g_per_kwh must be above 0 and at most %d", profiler.MaxCO2GPerKWh)
	}
	switch r.CO2Preset {
	case "custom":
		if r.CO2GPerKWh == nil {
			return errors.New(`co2_preset "custom" needs co2_g_per_kwh`)
		}
	case "":
		if r.CO2GPerKWh != nil {
			r.CO2Preset = "custom"
		}
	default:
		g, err := profiler.CO2Preset(r.CO2Preset)
		if err != nil {
			return fmt.Errorf("co2_preset: %w", err)
		}
		if r.CO2GPerKWh != nil && *r.CO2GPerKWh != g {
			return fmt.Errorf("co2_preset %q is %g g/kWh but co2_g_per_kwh is %g: give one, or co2_preset \"custom\"", r.CO2Preset, g, *r.CO2GPerKWh)
		}
	}
	switch r.Backend {
	case "", "auto", "cpu", "metal":
	default:
		return fmt.Errorf("backend %q: use \"auto\", \"cpu\" or \"metal\"", r.Backend)
	}
	return nil
}

// NewRunID makes the ID a run gets as soon as it is queued.
type NewRunID func() string

func (h *Handler) routeProfiling() {
	h.mux.HandleFunc("GET /api/profiling/models", h.listModels)
	h.mux.HandleFunc("POST /api/profiling/generate", h.generate)
	h.mux.HandleFunc("GET /api/profiling/queue", h.queueStatus)
	h.mux.HandleFunc("GET /api/profiling/runs", h.listRuns)
	h.mux.HandleFunc("GET /api/profiling/run/{id}", h.getRun)
	h.mux.HandleFunc("DELETE /api/profiling/run/{id}", h.deleteRun)
	h.mux.HandleFunc("POST /api/profiling/run/{id}/cancel", h.cancelRun)
	h.mux.HandleFunc("GET /api/profiling/export/{id}", h.exportRun)
	h.mux.HandleFunc("GET /api/profiling/compare", h.compareRuns)
	h.mux.HandleFunc("GET /api/profiling/machines", h.listMachines)
	h.mux.HandleFunc("GET /api/profiling/live", h.live)
	h.routeExternal()
	h.routeOpenAI()
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	if h.opts.Models == nil {
		writeJSON(w, http.StatusOK, map[string]any{"models": []ModelInfo{}})
		return
	}
	models, err := h.opts.Models.ListModels(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	if models == nil {
		models = []ModelInfo{}
	}
	if h.opts.Servers != nil {
		models = append(models, h.opts.Servers.Models(r.Context())...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func (h *Handler) generate(w http.ResponseWriter, r *http.Request) {
	if h.opts.Queue == nil || h.opts.Models == nil {
		writeError(w, http.StatusServiceUnavailable, "profiling unavailable", "this server was started without a run queue")
		return
	}
	var req GenerateRequest
	if !decodeJSONBody(w, r, &req) {
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request", err.Error())
		return
	}
	server := false
	if h.opts.Servers != nil {
		var err error
		if server, err = h.opts.Servers.Target(r.Context(), &req); err != nil {
			h.fail(w, err)
			return
		}
	}
	if !server && !h.engineTarget(w, r, &req) {
		return
	}
	if req.Repeat > 1 {
		req.RepeatGroup = h.opts.NewRunID()
	}
	ids, err := h.submit(req)
	if err != nil {
		if errors.Is(err, queue.ErrFull) {
			writeError(w, http.StatusServiceUnavailable, "queue full", err.Error())
			return
		}
		h.fail(w, err)
		return
	}
	if !req.Wait {
		state, pos, _ := h.opts.Queue.Status(ids[0])
		body := map[string]any{"run_id": ids[0], "status": state, "position": pos, "run_ids": ids}
		if req.Repeat > 1 {
			body["repeat_group"] = req.RepeatGroup
		}
		writeJSON(w, http.StatusAccepted, body)
		return
	}
	// Waiting lasts as long as the runs: lift the server's read and write
	// deadlines for this request (the body is read; the client may wait).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	results := make([]any, 0, len(ids))
	for _, id := range ids {
		result, err := h.opts.Queue.Wait(r.Context(), id)
		if err != nil {
			if r.Context().Err() != nil {
				// The client went away; the runs go on and are stored.
				return
			}
			writeError(w, http.StatusInternalServerError, "run failed", fmt.Sprintf("run %s: %v", id, err))
			return
		}
		results = append(results, result)
	}
	if len(ids) == 1 {
		writeJSON(w, http.StatusOK, results[0])
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run_id": ids[0], "run_ids": ids, "repeat_group": req.RepeatGroup, "runs": results})
}

// engineTarget checks a request for our engine and resolves its model
// folder; it answers the request itself and returns false when refused.
func (h *Handler) engineTarget(w http.ResponseWriter, r *http.Request, req *GenerateRequest) bool {
	if req.Endpoint != "" || req.API != "" {
		writeError(w, http.StatusBadRequest, "invalid request", "endpoint and api are for server runs, and this server has no endpoints configured")
		return false
	}
	if req.Power != "" && req.Power != h.opts.PowerSpec {
		writeError(w, http.StatusBadRequest, "invalid request",
			fmt.Sprintf("power %q: power sources are chosen when the server starts (serve --power); this server uses %q, so leave power out or give that", req.Power, h.opts.PowerSpec))
		return false
	}
	path, err := h.opts.Models.Resolve(req.ModelName)
	if err != nil {
		h.fail(w, err)
		return false
	}
	req.ModelPath = path
	if h.opts.CheckPrompt != nil {
		// Refuse now what would fail only after queueing.
		if err := h.opts.CheckPrompt(r.Context(), path, req.Prompt, req.Chat != nil && *req.Chat); err != nil {
			h.fail(w, err)
			return false
		}
	}
	return true
}

// submit queues the request, or its repeats one after another (each with
// the group's id and, after the first, the cooldown), and returns the run
// ids. When the queue fills up part way, the repeats already queued are
// cancelled so that no partial group is left behind.
func (h *Handler) submit(req GenerateRequest) ([]string, error) {
	cooldown := defaultCooldownS
	if req.CooldownS != nil {
		cooldown = *req.CooldownS
	}
	ids := make([]string, 0, req.Repeat)
	for i := range req.Repeat {
		one := req
		one.RepeatIndex, one.RepeatCount = i+1, req.Repeat
		if i > 0 {
			one.Cooldown = time.Duration(cooldown * float64(time.Second))
		}
		id := h.opts.NewRunID()
		if _, err := h.opts.Queue.Submit(id, one); err != nil {
			for _, done := range ids {
				_ = h.opts.Queue.Cancel(done)
			}
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (h *Handler) queueStatus(w http.ResponseWriter, r *http.Request) {
	if h.opts.Queue == nil {
		writeJSON(w, http.StatusOK, map[string]any{"active": "", "queued": 0})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": h.opts.Queue.Active(), "queued": h.opts.Queue.Len()})
}

// listRuns answers GET /api/profiling/runs with the list itself, a JSON
// array, as the user's guide reads it (pd.DataFrame(response.json())). The
// total number of matches is in X-Total-Count. With limit (and offset) it is
// one page, and Link names the next and previous pages (RFC 8288); without
// limit it is every matching run, read from the store a chunk at a time and
// streamed, so a long history costs no more memory than one chunk.
func (h *Handler) listRuns(w http.ResponseWriter, r *http.Request) {
	q, err := parseRunQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	if h.opts.Store == nil {
		w.Header().Set("X-Total-Count", "0")
		writeJSON(w, http.StatusOK, []RunListItem{})
		return
	}
	paged := r.URL.Query().Has("limit")
	if !paged {
		q.Limit, q.Offset = listChunk, 0
		if q.To.IsZero() {
			// Runs created while the list streams would shift the chunks.
			q.To = time.Now().Add(time.Millisecond)
		}
	}
	page, err := h.opts.Store.ListRuns(r.Context(), q)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Total-Count", strconv.Itoa(page.Total))
	if paged {
		if links := pageLinks(r.URL, q.Offset, q.Limit, len(page.Runs), page.Total); links != "" {
			w.Header().Set("Link", links)
		}
	}
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	io.WriteString(w, "[")
	n := 0
	for {
		for _, item := range page.Runs {
			if n > 0 {
				io.WriteString(w, ",")
			}
			h.localTimes(&item)
			if item.Tags == nil {
				item.Tags = []string{}
			}
			if err := enc.Encode(item); err != nil {
				return // the client went away
			}
			n++
		}
		if paged || len(page.Runs) < q.Limit || r.Context().Err() != nil {
			break
		}
		q.Offset += q.Limit
		if page, err = h.opts.Store.ListRuns(r.Context(), q); err != nil {
			// The status line is sent; end the array early and log why.
			h.log.Error("list runs", "err", err, "offset", q.Offset)
			break
		}
	}
	io.WriteString(w, "]\n")
}

// listChunk is how many runs the full list reads from the store at a time.
const listChunk = 500

// localTimes fills an item's created_at (local, no offset) and
// created_at_utc from its creation time.
func (h *Handler) localTimes(item *RunListItem) {
	loc := h.opts.Location
	if loc == nil {
		loc = time.Local
	}
	item.CreatedAt = item.Created.In(loc).Format("2006-01-02T15:04:05.000")
	item.CreatedAtUTC = item.Created.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// pageLinks builds the Link header of one page: first, prev, next and last,
// as references relative to the request's own path and query.
func pageLinks(u *url.URL, offset, limit, got, total int) string {
	link := func(off int, rel string) string {
		v := u.Query()
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, u.Path, v.Encode(), rel)
	}
	var out []string
	out = append(out, link(0, "first"))
	if offset > 0 {
		out = append(out, link(max(0, offset-limit), "prev"))
	}
	if offset+got < total {
		out = append(out, link(offset+limit, "next"))
	}
	if total > 0 {
		out = append(out, link((total-1)/limit*limit, "last"))
	}
	return strings.Join(out, ", ")
}

func parseRunQuery(r *http.Request) (RunQuery, error) {
	v := r.URL.Query()
	q := RunQuery{
		Search:  v.Get("search"),
		Model:   v.Get("model"),
		Machine: v.Get("machine"),
		Status:  v.Get("status"),
		Sort:    v.Get("sort"),
		Desc:    v.Get("order") != "asc",
		Limit:   50,
	}
	for _, t := range v["tag"] {
		for _, one := range strings.Split(t, ",") {
			if one = strings.TrimSpace(one); one != "" {
				q.Tags = append(q.Tags, one)
			}
		}
	}
	switch q.Sort {
	case "":
		q.Sort = "created_at"
	case "created_at", "duration", "energy", "joules_per_token", "tokens_per_second":
	default:
		return q, fmt.Errorf("sort %q: use created_at, duration, energy, joules_per_token or tokens_per_second", q.Sort)
	}
	if o := v.Get("order"); o != "" && o != "asc" && o != "desc" {
		return q, fmt.Errorf("order %q: use asc or desc", o)
	}
	switch q.Status {
	case "", "queued", "running", "completed", "failed", "cancelled", "interrupted", "abandoned":
	default:
		return q, fmt.Errorf("status %q: use queued, running, completed, failed, cancelled, interrupted or abandoned", q.Status)
	}
	if err := parseKinds(v.Get("kind"), &q); err != nil {
		return q, err
	}
	var err error
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > 500 {
			return q, fmt.Errorf("limit %q: use 1 to 500", s)
		}
	}
	if s := v.Get("offset"); s != "" {
		if q.Offset, err = strconv.Atoi(s); err != nil || q.Offset < 0 {
			return q, fmt.Errorf("offset %q: use a number ≥ 0", s)
		}
	}
	for _, b := range []struct {
		key string
		t   *time.Time
		end bool
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		s := v.Get(b.key)
		if s == "" {
			continue
		}
		t, err := parseTime(s, b.end)
		if err != nil {
			return q, fmt.Errorf("%s %q: use RFC 3339 or YYYY-MM-DD", b.key, s)
		}
		*b.t = t
	}
	return q, nil
}

// parseTime accepts RFC 3339 or a date; a "to" date means the end of that day.
func parseTime(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, err
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

// runState answers for a run that is still queued or running and so not yet
// in the store.
func (h *Handler) runState(id string) (map[string]any, bool) {
	if h.opts.Queue == nil {
		return nil, false
	}
	state, pos, err := h.opts.Queue.Status(id)
	if err != nil || (state != queue.StateQueued && state != queue.StateRunning) {
		return nil, false
	}
	return map[string]any{"run": map[string]any{"id": id, "status": state, "position": pos}}, true
}

func (h *Handler) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var omit []string
	for _, part := range strings.Split(r.URL.Query().Get("omit"), ",") {
		switch part = strings.TrimSpace(part); part {
		case "":
		case "components", "layers", "routing":
			omit = append(omit, part)
		default:
			writeError(w, http.StatusBadRequest, "invalid omit", fmt.Sprintf("omit %q: use components, layers or routing (comma-separated)", part))
			return
		}
	}
	if h.opts.Store != nil {
		var run any
		var err error
		if ps, ok := h.opts.Store.(PartialRunStore); ok && len(omit) > 0 {
			run, err = ps.GetRunOmitting(r.Context(), id, omit)
		} else {
			run, err = h.opts.Store.GetRun(r.Context(), id)
		}
		if err == nil {
			writeJSON(w, http.StatusOK, run)
			return
		}
		if !errors.Is(err, ErrNotFound) {
			h.fail(w, err)
			return
		}
	}
	if st, ok := h.runState(id); ok {
		writeJSON(w, http.StatusOK, st)
		return
	}
	writeError(w, http.StatusNotFound, "run not found", fmt.Sprintf("no run %q; list runs with GET /api/profiling/runs", id))
}

func (h *Handler) deleteRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, busy := h.runState(id); busy {
		writeError(w, http.StatusConflict, "run in progress", "cancel the run first (POST /api/profiling/run/"+id+"/cancel)")
		return
	}
	if h.opts.Store == nil {
		writeError(w, http.StatusNotFound, "run not found", id)
		return
	}
	if err := h.opts.Store.DeleteRun(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if h.opts.Queue == nil {
		writeError(w, http.StatusNotFound, "run not found", id)
		return
	}
	if _, busy := h.runState(id); !busy {
		writeError(w, http.StatusConflict, "run not active", fmt.Sprintf("run %q is not queued or running", id))
		return
	}
	if err := h.opts.Queue.Cancel(id); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run_id": id, "status": "cancelling"})
}

// exportRun downloads a run: format json (the full record), csv (a zip of
// one CSV file per table, named so) or, with table=NAME, that one table as a
// plain CSV file, or perfetto (a trace for ui.perfetto.dev).
func (h *Handler) exportRun(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "perfetto" {
		writeError(w, http.StatusBadRequest, "invalid format", fmt.Sprintf("format %q: use json, csv or perfetto", format))
		return
	}
	table := r.URL.Query().Get("table")
	if table != "" && format != "csv" {
		writeError(w, http.StatusBadRequest, "invalid format", "table=NAME goes with format=csv")
		return
	}
	if h.opts.Store == nil {
		writeError(w, http.StatusNotFound, "run not found", r.PathValue("id"))
		return
	}
	ex, err := h.opts.Store.ExportRun(r.Context(), r.PathValue("id"), format, table)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ex.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ex.Filename}))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ex.Data)
}

// listMachines lists the machines with stored runs (empty where the store
// does not record machines).
func (h *Handler) listMachines(w http.ResponseWriter, r *http.Request) {
	ms, ok := h.opts.Store.(MachineStore)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"machines": []any{}})
		return
	}
	list, err := ms.ListMachines(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"machines": list})
}

// compareRuns compares 2-4 runs or groups: ?ids=a,b+c. A group's runs are
// joined by '+', which a query string decodes to a space, so a space
// separates them as well as a literal '+' (%2B). With &by=machine the runs
// are pooled and grouped by the machine they ran on (2 to 4 machines).
func (h *Handler) compareRuns(w http.ResponseWriter, r *http.Request) {
	byMachine := false
	switch by := r.URL.Query().Get("by"); by {
	case "":
	case "machine":
		byMachine = true
	default:
		writeError(w, http.StatusBadRequest, "invalid by", fmt.Sprintf("by %q: use by=machine, or leave it out", by))
		return
	}
	var ids []string
	for _, arg := range strings.Split(r.URL.Query().Get("ids"), ",") {
		group := strings.FieldsFunc(arg, func(c rune) bool { return c == '+' || unicode.IsSpace(c) })
		if len(group) == 0 {
			continue
		}
		if len(group) > maxGroupRuns {
			writeError(w, http.StatusBadRequest, "invalid ids", fmt.Sprintf("a group may hold at most %d runs, this one holds %d", maxGroupRuns, len(group)))
			return
		}
		ids = append(ids, strings.Join(group, "+"))
	}
	if byMachine && len(ids) >= 1 && len(ids) <= maxCompareIDs {
		// Runs of several machines, in any groups: regrouped by machine.
	} else if len(ids) < 2 || len(ids) > maxCompareIDs {
		writeError(w, http.StatusBadRequest, "invalid ids", fmt.Sprintf("give 2 to %d run ids or groups: ?ids=a,b or ?ids=a+b,c+d", maxCompareIDs))
		return
	}
	if h.opts.Store == nil {
		writeError(w, http.StatusNotFound, "run not found", ids[0])
		return
	}
	var cmp any
	var err error
	if byMachine {
		ms, ok := h.opts.Store.(MachineStore)
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid by", "this server does not record machines")
			return
		}
		cmp, err = ms.CompareByMachine(r.Context(), ids)
	} else {
		cmp, err = h.opts.Store.CompareRuns(r.Context(), ids)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cmp)
}

// decodeJSONBody enforces the content type and size limit, then decodes
// strictly (unknown fields are errors, so typos do not go unnoticed).
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeJSONBodyLimit(w, r, v, maxBodyBytes)
}

func decodeJSONBodyLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported content type", "send the body as Content-Type: application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large", fmt.Sprintf("the body may be at most %d bytes", limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid JSON", err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON", "the body holds more than one JSON value")
		return false
	}
	return true
}

// fail maps an error from a dependency to a status code.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not found", err.Error())
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, "invalid request", err.Error())
	case errors.Is(err, ErrUnavailable):
		h.log.Warn("request refused", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	default:
		h.log.Error("request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error", err.Error())
	}
}
