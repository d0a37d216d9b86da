package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"energyprofiler/backend/windows"
)

// Servers resolves inference-server targets (the server package adapts
// the external package to it).
type Servers interface {
	// Target checks a generate request aimed at a server (an endpoint
	// given, or a model named "ENDPOINT:MODEL" of a known endpoint) and
	// sets req.Target. server is false for an engine request, which it
	// leaves alone. A remote server needs "power" given explicitly.
	Target(ctx context.Context, req *GenerateRequest) (server bool, err error)
	// Endpoints describes the saved endpoints (and a running ollama):
	// reachable or not, their models; never a key.
	Endpoints(ctx context.Context) any
	// Models lists the endpoints' models for the models list, named
	// "ENDPOINT:MODEL".
	Models(ctx context.Context) []ModelInfo
}

func parseKinds(s string, q *RunQuery) error {
	for _, k := range strings.Split(s, ",") {
		switch k = strings.TrimSpace(k); k {
		case "":
		case "engine", "server", "window":
			q.Kinds = append(q.Kinds, k)
		default:
			return fmt.Errorf("kind %q: use engine, server or window", k)
		}
	}
	return nil
}

func (h *Handler) routeExternal() {
	h.mux.HandleFunc("GET /api/profiling/endpoints", h.listEndpoints)
	h.mux.HandleFunc("GET /api/profiling/windows", h.listWindows)
	h.mux.HandleFunc("POST /api/profiling/windows", h.openWindow)
	h.mux.HandleFunc("POST /api/profiling/windows/{id}/stop", h.stopWindow)
}

func (h *Handler) listEndpoints(w http.ResponseWriter, r *http.Request) {
	if h.opts.Servers == nil {
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": h.opts.Servers.Endpoints(r.Context())})
}

// WindowOpenRequest is the body of POST /api/profiling/windows.
type WindowOpenRequest struct {
	Name     string   `json:"name"`
	Tags     []string `json:"tags"`
	Note     string   `json:"note"`
	IdleS    *float64 `json:"idle_s,omitempty"`
	TimeoutS *float64 `json:"timeout_s,omitempty"`
}

// WindowStopRequest is the body of POST /api/profiling/windows/{id}/stop.
type WindowStopRequest struct {
	TokensIn  *int     `json:"tokens_in,omitempty"`
	TokensOut *int     `json:"tokens_out,omitempty"`
	Tags      []string `json:"tags"`
	Note      string   `json:"note"`
	// Error, when set, stores the window as failed with it (the code it
	// measured raised).
	Error string `json:"error,omitempty"`
}

const (
	maxNameLen  = 200
	maxNoteLen  = 4096
	maxTokenArg = 1 << 50
)

func checkTags(tags []string) error {
	if len(tags) > maxTags {
		return fmt.Errorf("%d tags: at most %d", len(tags), maxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > maxTagLen || strings.ContainsAny(t, ",\n") || !utf8.ValidString(t) {
			return fmt.Errorf("tag %q: tags are 1-%d characters without commas or newlines", t, maxTagLen)
		}
	}
	return nil
}

func (q *WindowOpenRequest) check() (windows.OpenRequest, error) {
	out := windows.OpenRequest{Name: q.Name, Tags: q.Tags, Note: q.Note}
	if len(q.Name) > maxNameLen || !utf8.ValidString(q.Name) || strings.ContainsAny(q.Name, "\n\r") {
		return out, fmt.Errorf("name: one line of valid UTF-8, at most %d bytes", maxNameLen)
	}
	if len(q.Note) > maxNoteLen || !utf8.ValidString(q.Note) {
		return out, fmt.Errorf("note: valid UTF-8 of at most %d bytes", maxNoteLen)
	}
	if err := checkTags(q.Tags); err != nil {
		return out, err
	}
	if q.IdleS != nil {
		if !(*q.IdleS == 0 || *q.IdleS >= minIdleS && *q.IdleS <= 60) {
			return out, fmt.Errorf("idle_s must be 0 (no idle baseline) or from %g to 60 seconds", minIdleS)
		}
		out.Idle = time.Duration(*q.IdleS * float64(time.Second))
		if *q.IdleS == 0 {
			out.Idle = -1
		}
	}
	if q.TimeoutS != nil {
		if !(*q.TimeoutS >= 1 && *q.TimeoutS <= windows.MaxTimeout.Seconds()) {
			return out, fmt.Errorf("timeout_s must be from 1 to %g seconds", windows.MaxTimeout.Seconds())
		}
		out.Timeout = time.Duration(*q.TimeoutS * float64(time.Second))
	}
	return out, nil
}

func (q *WindowStopRequest) check() (windows.StopRequest, error) {
	out := windows.StopRequest{TokensIn: q.TokensIn, TokensOut: q.TokensOut, Tags: q.Tags, Note: q.Note, Error: q.Error}
	for _, n := range []*int{q.TokensIn, q.TokensOut} {
		if n != nil && (*n < 0 || *n > maxTokenArg) {
			return out, fmt.Errorf("tokens_in and tokens_out must be whole numbers from 0 to %d", int64(maxTokenArg))
		}
	}
	if len(q.Note) > maxNoteLen || !utf8.ValidString(q.Note) || len(q.Error) > maxNoteLen || !utf8.ValidString(q.Error) {
		return out, fmt.Errorf("note and error: valid UTF-8 of at most %d bytes", maxNoteLen)
	}
	return out, checkTags(q.Tags)
}

func (h *Handler) windowsReady(w http.ResponseWriter) bool {
	if h.opts.Windows == nil {
		writeError(w, http.StatusServiceUnavailable, "windows unavailable", "this server was started without energy windows")
		return false
	}
	if h.opts.StoreProblem != nil {
		if err := h.opts.StoreProblem(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return false
		}
	}
	return true
}

func (h *Handler) listWindows(w http.ResponseWriter, r *http.Request) {
	if h.opts.Windows == nil {
		writeJSON(w, http.StatusOK, map[string]any{"windows": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"windows": h.opts.Windows.List()})
}

// openWindow starts a window after its idle baseline (1 s unless idle_s
// says otherwise) and answers 201 with its id, which is its run's id.
func (h *Handler) openWindow(w http.ResponseWriter, r *http.Request) {
	if !h.windowsReady(w) {
		return
	}
	var req WindowOpenRequest
	if !decodeJSONBody(w, r, &req) {
		return
	}
	open, err := req.check()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid request", err.Error())
		return
	}
	info, err := h.opts.Windows.Open(r.Context(), open)
	switch {
	case errors.Is(err, windows.ErrTooMany):
		writeError(w, http.StatusTooManyRequests, "too many windows", err.Error())
		return
	case err != nil:
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"window_id": info.ID, "run_id": info.ID, "name": info.Name,
		"opened_at": info.OpenedAt, "deadline": info.Deadline})
}

// stopWindow ends a window and answers with its run's summary.
func (h *Handler) stopWindow(w http.ResponseWriter, r *http.Request) {
	if h.opts.Windows == nil {
		writeError(w, http.StatusServiceUnavailable, "windows unavailable", "this server was started without energy windows")
		return
	}
	var req WindowStopRequest
	if r.ContentLength != 0 {
		if !decodeJSONBody(w, r, &req) {
			return
		}
	}
	stop, err := req.check()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid request", err.Error())
		return
	}
	sum, err := h.opts.Windows.Stop(r.PathValue("id"), stop)
	if errors.Is(err, windows.ErrNotFound) {
		writeError(w, http.StatusNotFound, "window not found", err.Error())
		return
	}
	if err != nil && sum == nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}
