package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"energyprofiler/backend/queue"
)

// RunStore is what the API needs from storage. The store package's adapter
// implements it; tests use fakes.
type RunStore interface {
	ListRuns(ctx context.Context, q RunQuery) (RunPage, error)
	// GetRun returns the run's full detail, JSON-encodable.
	GetRun(ctx context.Context, id string) (any, error)
	DeleteRun(ctx context.Context, id string) error
	ExportRun(ctx context.Context, id, format string) (Export, error)
	CompareRuns(ctx context.Context, ids []string) (any, error)
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
	Sort   string    // created_at | duration | energy | joules_per_token | tokens_per_second
	Desc   bool
	Limit  int
	Offset int
}

// RunListItem is one row of the run list. Numbers that were not measured are
// null, never 0.
type RunListItem struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"created_at"`
	ModelName       string    `json:"model_name"`
	Prompt          string    `json:"prompt"`
	DurationS       *float64  `json:"duration_s"`
	TotalEnergyJ    *float64  `json:"total_energy_j"`
	JoulesPerToken  *float64  `json:"joules_per_token"`
	TokensPerSecond *float64  `json:"tokens_per_second"`
	EnergyLabel     string    `json:"energy_label"`
	Tags            []string  `json:"tags"`
	Status          string    `json:"status"`
}

// RunPage is one page of the run list; Total counts every match.
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

	// ModelPath is the resolved folder; set by the API, never by clients.
	ModelPath string `json:"-"`
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
	minIdleS = 0.001
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
	h.mux.HandleFunc("GET /api/profiling/live", h.live)
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
	if req.Power != "" && req.Power != h.opts.PowerSpec {
		writeError(w, http.StatusBadRequest, "invalid request",
			fmt.Sprintf("power %q: power sources are chosen when the server starts (serve --power); this server uses %q, so leave power out or give that", req.Power, h.opts.PowerSpec))
		return
	}
	path, err := h.opts.Models.Resolve(req.ModelName)
	if err != nil {
		h.fail(w, err)
		return
	}
	req.ModelPath = path
	if h.opts.CheckPrompt != nil {
		// Refuse now what would fail only after queueing.
		if err := h.opts.CheckPrompt(r.Context(), path, req.Prompt); err != nil {
			h.fail(w, err)
			return
		}
	}
	id := h.opts.NewRunID()
	if _, err := h.opts.Queue.Submit(id, req); err != nil {
		if errors.Is(err, queue.ErrFull) {
			writeError(w, http.StatusServiceUnavailable, "queue full", err.Error())
			return
		}
		h.fail(w, err)
		return
	}
	if !req.Wait {
		state, pos, _ := h.opts.Queue.Status(id)
		writeJSON(w, http.StatusAccepted, map[string]any{"run_id": id, "status": state, "position": pos})
		return
	}
	// Waiting lasts as long as the run: lift the server's read and write
	// deadlines for this request (the body is read; the client may wait).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	result, err := h.opts.Queue.Wait(r.Context(), id)
	if err != nil {
		if r.Context().Err() != nil {
			// The client went away; the run goes on and is stored.
			return
		}
		writeError(w, http.StatusInternalServerError, "run failed", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, result)
}

func (h *Handler) queueStatus(w http.ResponseWriter, r *http.Request) {
	if h.opts.Queue == nil {
		writeJSON(w, http.StatusOK, map[string]any{"active": "", "queued": 0})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": h.opts.Queue.Active(), "queued": h.opts.Queue.Len()})
}

func (h *Handler) listRuns(w http.ResponseWriter, r *http.Request) {
	q, err := parseRunQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	if h.opts.Store == nil {
		writeJSON(w, http.StatusOK, RunPage{Runs: []RunListItem{}})
		return
	}
	page, err := h.opts.Store.ListRuns(r.Context(), q)
	if err != nil {
		h.fail(w, err)
		return
	}
	if page.Runs == nil {
		page.Runs = []RunListItem{}
	}
	writeJSON(w, http.StatusOK, page)
}

func parseRunQuery(r *http.Request) (RunQuery, error) {
	v := r.URL.Query()
	q := RunQuery{
		Search: v.Get("search"),
		Model:  v.Get("model"),
		Status: v.Get("status"),
		Sort:   v.Get("sort"),
		Desc:   v.Get("order") != "asc",
		Limit:  50,
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
	case "", "queued", "running", "completed", "failed", "cancelled", "interrupted":
	default:
		return q, fmt.Errorf("status %q: use queued, running, completed, failed, cancelled or interrupted", q.Status)
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
	if h.opts.Store != nil {
		run, err := h.opts.Store.GetRun(r.Context(), id)
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

func (h *Handler) exportRun(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "perfetto" {
		writeError(w, http.StatusBadRequest, "invalid format", fmt.Sprintf("format %q: use json, csv or perfetto", format))
		return
	}
	if h.opts.Store == nil {
		writeError(w, http.StatusNotFound, "run not found", r.PathValue("id"))
		return
	}
	ex, err := h.opts.Store.ExportRun(r.Context(), r.PathValue("id"), format)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ex.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ex.Filename}))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ex.Data)
}

// compareRuns compares 2-4 runs or groups: ?ids=a,b+c. A group's runs are
// joined by '+', which a query string decodes to a space, so a space
// separates them as well as a literal '+' (%2B).
func (h *Handler) compareRuns(w http.ResponseWriter, r *http.Request) {
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
	if len(ids) < 2 || len(ids) > maxCompareIDs {
		writeError(w, http.StatusBadRequest, "invalid ids", fmt.Sprintf("give 2 to %d run ids or groups: ?ids=a,b or ?ids=a+b,c+d", maxCompareIDs))
		return
	}
	if h.opts.Store == nil {
		writeError(w, http.StatusNotFound, "run not found", ids[0])
		return
	}
	cmp, err := h.opts.Store.CompareRuns(r.Context(), ids)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cmp)
}

// decodeJSONBody enforces the content type and size limit, then decodes
// strictly (unknown fields are errors, so typos do not go unnoticed).
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported content type", "send the body as Content-Type: application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large", fmt.Sprintf("the body may be at most %d bytes", maxBodyBytes))
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
