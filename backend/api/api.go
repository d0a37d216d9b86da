// Package api owns the local HTTP API and the dashboard's file server: the
// REST endpoints under /api, the live WebSocket, and the security checks that
// keep other web pages and other machines out. One Handler serves the
// headless server and the desktop window alike.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/google/uuid"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/queue"
	"energyprofiler/backend/windows"
)

// SourceHealth describes one power source for /api/health.
type SourceHealth struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Domains   []string `json:"domains"`
	Available bool     `json:"available"`
	Reason    string   `json:"reason,omitempty"`
	Fix       string   `json:"fix,omitempty"`
}

// Options configure a Handler.
type Options struct {
	Version   string
	DBPath    string
	ModelsDir string

	// PowerSources reports the machine's power sources; nil means none are
	// built in, which /api/health reports as an empty list.
	PowerSources func() []SourceHealth

	// Store, Models and Queue back the /api/profiling endpoints; a nil one
	// makes its endpoints answer as if empty (or 503 for generate).
	Store    RunStore
	Models   Models
	Queue    *queue.Queue
	NewRunID NewRunID

	// StoreProblem, when set, says why runs cannot be stored now (nil when
	// they can); /api/health reports it.
	StoreProblem func() error
	// CheckPrompt, when set, refuses a prompt the model cannot take (longer
	// than its context, or a chat the model has no template for) at
	// submission, with ErrBadRequest.
	CheckPrompt func(ctx context.Context, modelPath, prompt string, chat bool) error
	// CheckMessages, when set, is CheckPrompt for a /v1 chat conversation,
	// rendered as its run will render it.
	CheckMessages func(ctx context.Context, modelPath string, msgs []chat.Message) error
	// Servers resolves server targets and lists the models that saved
	// endpoints (and an ollama on its default port) offer; nil: none.
	Servers Servers
	// Windows holds the energy windows; nil refuses them (503).
	Windows *windows.Registry

	// PowerSpec is the server's power source choice; a generate request's
	// "power" must be empty or equal to it (sources are chosen at start).
	PowerSpec string

	// Frontend holds the built dashboard; nil serves a page that says how to
	// build it.
	Frontend fs.FS

	// Port is the port the server listens on, for the Host check. Zero
	// accepts any port on a loopback host name.
	Port string
	// AllowedHosts extends the loopback names accepted in the Host header,
	// for a server deliberately bound to another interface (remote mode:
	// the machine's own names and addresses, and those the user adds). "*"
	// accepts any Host; only allowed with a Token, which then does what
	// the Host check does (keeps out pages that rebind a DNS name).
	AllowedHosts []string
	// Token, when set, is required on every /api request except login: as
	// "Authorization: Bearer TOKEN", or as the session cookie that
	// POST /api/login gives a browser in exchange for it.
	Token string
	// Trusted skips the Host and Origin checks. Only for transports that no
	// other process can reach, such as the desktop window's asset server.
	Trusted bool
	// Tokens, when set, accepts the tokens a team server handed out, each
	// with its role (RolePush, RoleView), beside Token (RoleAdmin).
	Tokens TokenChecker
	// Push, when set, takes runs copied in from other machines'
	// databases (POST /api/push/have and /api/push/run).
	Push Pusher

	// Location is the time zone of the run list's created_at (default
	// the server's local zone).
	Location *time.Location

	Logger *slog.Logger
}

// Handler serves the API and the dashboard.
type Handler struct {
	opts     Options
	mux      *http.ServeMux
	log      *slog.Logger
	sessions sessions
}

// New returns a Handler ready to serve.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.opts.NewRunID == nil {
		h.opts.NewRunID = uuid.NewString
	}
	h.mux.HandleFunc("GET /api/health", h.health)
	h.mux.HandleFunc("POST /api/login", h.login)
	h.mux.HandleFunc("POST /api/logout", h.logout)
	h.mux.HandleFunc("GET /api/auth", h.authStatus)
	h.routeProfiling()
	h.routePush()
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found", fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path))
	})
	h.mux.Handle("/", h.frontend())
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Trusted {
		if err := h.checkHost(r); err != nil {
			h.log.Warn("refused request", "reason", err, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "forbidden host", err.Error())
			return
		}
		if err := h.checkOrigin(r); err != nil {
			h.log.Warn("refused request", "reason", err, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "forbidden origin", err.Error())
			return
		}
	}
	if needsAuth(r) {
		who, ok := h.authorized(r)
		if !ok {
			refuse(w)
			return
		}
		if !permits(who.Role, r) {
			forbid(w, who)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, who))
	}
	h.mux.ServeHTTP(w, r)
}

type healthResponse struct {
	Version   string `json:"version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Database  string `json:"database"`
	ModelsDir string `json:"models_dir"`
	// DatabaseProblem says why runs cannot be stored (read-only, disk
	// full); absent when they can.
	DatabaseProblem string         `json:"database_problem,omitempty"`
	PowerSources    []SourceHealth `json:"power_sources"`
	// PowerSpec is the power source choice the server started with; a
	// server run against another machine must give it explicitly.
	PowerSpec string `json:"power_spec"`
	// Access is who the request acts as and what it may change, so the
	// dashboard can disable what would be refused instead of failing.
	Access Access `json:"access"`
}

// Access says what the asker may do: ReadOnly is true when it may not
// start, cancel or delete runs (a view token, or a machine's push token),
// and Reason says why in words the dashboard shows.
type Access struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	ReadOnly bool   `json:"read_only"`
	Reason   string `json:"reason,omitempty"`
}

// accessOf describes what p may do from the dashboard.
func accessOf(p Principal) Access {
	a := Access{Name: p.Name, Role: p.Role}
	// Only the server's own token (and the local user) may change runs:
	// see permits.
	if p.Role != RoleAdmin {
		a.ReadOnly = true
		what := "only read"
		if p.Role == RolePush {
			what = "only read and push runs from its machine"
		}
		a.Reason = fmt.Sprintf("Read-only: you are signed in with the %s token %q, which may %s. Starting, cancelling and deleting runs needs the server's own token.", p.Role, p.Name, what)
	}
	return a
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	sources := []SourceHealth{}
	if h.opts.PowerSources != nil {
		sources = h.opts.PowerSources()
	}
	h.log.Info("health requested", "remote", r.RemoteAddr, "user_agent", r.UserAgent())
	res := healthResponse{
		Version:      h.opts.Version,
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Database:     h.opts.DBPath,
		ModelsDir:    h.opts.ModelsDir,
		PowerSources: sources,
		PowerSpec:    h.opts.PowerSpec,
	}
	if who, ok := h.authorized(r); ok {
		res.Access = accessOf(who)
	}
	if h.opts.StoreProblem != nil {
		if err := h.opts.StoreProblem(); err != nil {
			res.DatabaseProblem = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) frontend() http.Handler {
	if h.opts.Frontend == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, notBuiltPage)
		})
	}
	return http.FileServerFS(h.opts.Frontend)
}

const notBuiltPage = `<!doctype html><title>Energy Profiler</title>
<h1>The dashboard is not built into this binary</h1>
<p>Build it with <code>make run</code> (or <code>cd frontend && npm ci && npm run build</code>, then rebuild the Go binary).
The API is available under <a href="/api/health">/api/health</a>.</p>`

// principalKey carries who a request acts as in its context.
type principalKey struct{}

// who returns who r acts as (the zero Principal where no auth applies).
func who(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

// errorBody is the shape of every API error.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, detail string) {
	writeJSON(w, status, errorBody{Error: msg, Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

var errNoHost = errors.New("request has no Host header")
