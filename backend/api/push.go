package api

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Pusher takes runs copied in from other machines' databases (`energyprofiler
// push`). Run ids are UUIDs, so a run already stored is simply not copied
// again.
type Pusher interface {
	// HaveRuns returns which of ids are stored already.
	HaveRuns(ctx context.Context, ids []string) ([]string, error)
	// ImportRun stores the run whose full JSON record body holds, unless
	// it is stored already; pushedBy names the token that sent it. A record
	// that is not a finished run is ErrBadRequest.
	ImportRun(ctx context.Context, body io.Reader, pushedBy string) (id string, created bool, err error)
}

// Limits on pushes: a deep run of a big model is tens of MB of JSON.
const (
	maxHaveIDs       = 10000
	maxPushBodyBytes = 512 << 20 // after gzip is undone
	pushReadTimeout  = 10 * time.Minute
)

func (h *Handler) routePush() {
	h.mux.HandleFunc("POST /api/push/have", h.pushHave)
	h.mux.HandleFunc("POST /api/push/run", h.pushRun)
}

type haveRequest struct {
	IDs []string `json:"ids"`
}

// pushHave answers which of the runs a pusher holds this server has.
func (h *Handler) pushHave(w http.ResponseWriter, r *http.Request) {
	if h.opts.Push == nil {
		writeError(w, http.StatusNotFound, "push unavailable", "this server does not take pushed runs")
		return
	}
	var req haveRequest
	if !decodeJSONBodyLimit(w, r, &req, maxHaveIDs*64) {
		return
	}
	if len(req.IDs) > maxHaveIDs {
		writeError(w, http.StatusBadRequest, "too many ids", fmt.Sprintf("ask about at most %d runs at once", maxHaveIDs))
		return
	}
	have, err := h.opts.Push.HaveRuns(r.Context(), req.IDs)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"have": have})
}

// pushRun stores one pushed run: 201 when it was copied, 200 when this
// server had it already. The body is the run's full JSON record, gzipped
// when Content-Encoding says so.
func (h *Handler) pushRun(w http.ResponseWriter, r *http.Request) {
	if h.opts.Push == nil {
		writeError(w, http.StatusNotFound, "push unavailable", "this server does not take pushed runs")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported content type", "send the run as Content-Type: application/json")
		return
	}
	// A big run over a slow link outlasts the server's read timeout; the
	// sender is authenticated, so it may take longer.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(pushReadTimeout))
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxPushBodyBytes)
	switch r.Header.Get("Content-Encoding") {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid gzip", err.Error())
			return
		}
		defer zr.Close()
		body = &limitedReader{r: zr, left: maxPushBodyBytes}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported encoding", "send the run plain or with Content-Encoding: gzip")
		return
	}
	by := who(r).Name
	id, created, err := h.opts.Push.ImportRun(r.Context(), body, by)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errTooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "run too large", fmt.Sprintf("a pushed run may be at most %d MiB of JSON", maxPushBodyBytes>>20))
			return
		}
		h.fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		h.log.Info("run pushed", "run_id", id, "by", by)
	}
	writeJSON(w, status, map[string]any{"id": id, "created": created})
}

var errTooBig = errors.New("body too large")

// limitedReader fails, rather than stopping quietly, past its limit (a
// gzip bomb).
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
