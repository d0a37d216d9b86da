// Package windows owns energy windows: measurements around any code that is
// not a model we run (a training epoch, a data-loading step, a whole
// command), opened and stopped by their caller over the API. A window is a
// profiled run of kind "window" with one phase, "window", and the token
// counts its caller gives when stopping it (for J per token). A window
// left open past its timeout is closed as "abandoned" with what it
// measured; windows still open when the server stops are stored as
// interrupted. Every window opened ends stored.
package windows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/profiler"
)

// Phase is the one phase a window has.
const Phase = "window"

// Defaults and limits.
const (
	DefaultTimeout = time.Hour
	MaxTimeout     = 7 * 24 * time.Hour
	DefaultMaxOpen = 64
)

// Token-count sources a window records.
const (
	GivenByCaller = "given by the caller"
	NotGiven      = "unavailable (not given when the window stopped)"
)

// ErrNotFound is returned for a window id that is not open.
var ErrNotFound = errors.New("no such open window")

// ErrTooMany is returned when DefaultMaxOpen windows are already open.
var ErrTooMany = errors.New("too many open windows")

// Starter starts a profiled run with the machine's power sources, its idle
// baseline (idle: 0 default, negative none) and the run store.
type Starter func(ctx context.Context, meta profiler.Meta, idle time.Duration) (*profiler.Run, error)

// OpenRequest describes a window to open.
type OpenRequest struct {
	Name    string
	Tags    []string
	Note    string
	Idle    time.Duration // 0: the default baseline; negative: none
	Timeout time.Duration // 0: DefaultTimeout
}

// StopRequest is what the caller knows when the window ends. A nil count
// is unknown; Error, when set, stores the window as failed with it (the
// code it measured raised).
type StopRequest struct {
	TokensIn, TokensOut *int
	Tags                []string
	Note                string
	Error               string
}

// Info describes an open window.
type Info struct {
	ID       string    `json:"window_id"`
	Name     string    `json:"name"`
	OpenedAt time.Time `json:"opened_at"`
	Deadline time.Time `json:"deadline"`
}

type window struct {
	run   *profiler.Run
	info  Info
	timer *time.Timer
}

// Registry holds the open windows.
type Registry struct {
	start   Starter
	maxOpen int
	// Flush, when set, is called after a window is stopped and before Stop
	// returns, so that the stopped window can be read back at once (the
	// store writes asynchronously).
	Flush func() error

	mu     sync.Mutex
	open   map[string]*window
	closed bool
}

// New returns a registry whose windows start with start.
func New(start Starter) *Registry {
	return &Registry{start: start, maxOpen: DefaultMaxOpen, open: map[string]*window{}}
}

// Open starts a window (after its idle baseline) and returns its id, which
// is also its run's id.
func (r *Registry) Open(ctx context.Context, req OpenRequest) (Info, error) {
	if req.Timeout == 0 {
		req.Timeout = DefaultTimeout
	}
	if req.Timeout < 0 || req.Timeout > MaxTimeout {
		return Info{}, fmt.Errorf("timeout %s: use up to %s", req.Timeout, MaxTimeout)
	}
	if req.Name == "" {
		req.Name = "window"
	}
	r.mu.Lock()
	full := len(r.open) >= r.maxOpen
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return Info{}, errors.New("the server is stopping")
	}
	if full {
		return Info{}, fmt.Errorf("%w (%d): stop some first", ErrTooMany, r.maxOpen)
	}
	tags := append([]string{}, req.Tags...)
	run, err := r.start(ctx, profiler.Meta{ModelName: req.Name, Kind: profiler.KindWindow, Note: req.Note, Tags: tags}, req.Idle)
	if err != nil {
		return Info{}, err
	}
	run.PhaseStart(Phase, clock.Now())
	now := time.Now().UTC()
	w := &window{run: run, info: Info{ID: run.ID(), Name: req.Name, OpenedAt: now, Deadline: now.Add(req.Timeout)}}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		run.End(profiler.StatusInterrupted, "the server stopped while the window was opening")
		return Info{}, errors.New("the server is stopping")
	}
	r.open[w.info.ID] = w
	w.timer = time.AfterFunc(req.Timeout, func() { r.abandon(w.info.ID, req.Timeout) })
	r.mu.Unlock()
	return w.info, nil
}

// take removes and returns an open window.
func (r *Registry) take(id string) (*window, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.open[id]
	if ok {
		delete(r.open, id)
		w.timer.Stop()
	}
	return w, ok
}

// Stop ends a window and returns its summary.
func (r *Registry) Stop(id string, req StopRequest) (*profiler.Summary, error) {
	w, ok := r.take(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s (it was stopped already, timed out, or never opened)", ErrNotFound, id)
	}
	now := clock.Now()
	w.run.PhaseEnd(Phase, now)
	in, inLabel := count(req.TokensIn)
	out, outLabel := count(req.TokensOut)
	w.run.SetTokenCounts(in, out, inLabel, outLabel)
	if len(req.Tags) > 0 || req.Note != "" {
		w.run.Annotate(req.Tags, req.Note)
	}
	var sum *profiler.Summary
	var err error
	if req.Error != "" {
		sum, err = w.run.End(profiler.StatusFailed, req.Error)
	} else {
		sum, err = w.run.Finish()
	}
	if err == nil && r.Flush != nil {
		if ferr := r.Flush(); ferr != nil {
			return sum, fmt.Errorf("window %s ended but could not be stored: %w", id, ferr)
		}
	}
	return sum, err
}

func count(n *int) (int, string) {
	if n == nil {
		return -1, NotGiven
	}
	return *n, GivenByCaller
}

// abandon closes a window whose caller never stopped it.
func (r *Registry) abandon(id string, after time.Duration) {
	w, ok := r.take(id)
	if !ok {
		return
	}
	w.run.PhaseEnd(Phase, clock.Now())
	w.run.SetTokenCounts(-1, -1, NotGiven, NotGiven)
	w.run.End(profiler.StatusAbandoned, fmt.Sprintf("the window was not stopped within %s, so it was closed as abandoned", after))
}

// List returns the open windows, oldest first.
func (r *Registry) List() []Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Info, 0, len(r.open))
	for _, w := range r.open {
		out = append(out, w.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.Before(out[j].OpenedAt) })
	return out
}

// Close ends every open window as interrupted (the server is stopping)
// and refuses new ones.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	ids := make([]string, 0, len(r.open))
	for id := range r.open {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		if w, ok := r.take(id); ok {
			w.run.PhaseEnd(Phase, clock.Now())
			w.run.End(profiler.StatusInterrupted, "the server stopped while the window was open")
		}
	}
}
