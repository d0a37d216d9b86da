package external

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"energyprofiler/backend/engine"
	"energyprofiler/backend/profiler"
)

// Tracer is what Profile records into: a *profiler.Run.
type Tracer interface {
	PhaseStart(p engine.Phase, t int64)
	PhaseEnd(p engine.Phase, t int64)
	StreamToken(ev engine.TokenEvent, chunk, chunkTokens int)
	Preview(ev engine.TokenEvent)
	SetInputTokens(n int)
	SetExternal(x *profiler.External)
}

// Describe is the server description a run starts with, before anything
// has been streamed. remote marks a server on another machine.
func Describe(req Request, remote bool) *profiler.External {
	x := &profiler.External{
		Endpoint: Redact(req.Endpoint.URL), EndpointName: req.Endpoint.Name, API: req.Endpoint.API, Route: req.Route(),
		ServerModel: req.Model, Request: req.Params(), Remote: remote,
		InputTokensSource: "unavailable (the request has not finished)", OutputTokensSource: "unavailable (the request has not finished)",
	}
	if remote {
		host := req.Endpoint.URL
		if u, err := url.Parse(req.Endpoint.URL); err == nil {
			host = u.Host
		}
		x.PowerNote = RemotePowerNote(host)
	}
	return x
}

// Profile sends req, records its phases and tokens into run on the
// profiler's clock, and fills in x (from Describe) with what the server
// reported. It returns the stream, which holds what arrived even when the
// request failed; the caller ends the run (Finish, or Abort with the error).
func Profile(ctx context.Context, hc *http.Client, run Tracer, req Request, x *profiler.External) (*Stream, error) {
	var mu sync.Mutex // the observer's calls and the end of the stream
	prev := int64(0)
	previewIndex := 0
	run.PhaseStart(engine.PhasePreInference, clockNow())
	s, err := Do(ctx, hc, req, Observer{
		Headers: func(at int64) {
			mu.Lock()
			defer mu.Unlock()
			run.PhaseEnd(engine.PhasePreInference, at)
			run.PhaseStart(engine.PhasePrefill, at)
			prev = at
		},
		Chunk: func(i int, c Chunk) {
			mu.Lock()
			defer mu.Unlock()
			if i == 0 {
				run.PhaseEnd(engine.PhasePrefill, c.At)
				run.PhaseStart(engine.PhaseDecode, c.At)
			}
			run.Preview(engine.TokenEvent{Index: previewIndex, ID: -1, Piece: c.Text, Start: prev, End: c.At})
			previewIndex++
			prev = c.At
		},
	})
	mu.Lock()
	defer mu.Unlock()
	record(run, s, req, x)
	return s, err
}

// record turns the stream's chunks into tokens, closes the phases and
// stores what the server said.
func record(run Tracer, s *Stream, req Request, x *profiler.External) {
	plan := planTokens(s, req)
	start := s.Headers
	index := 0
	for i, c := range s.Chunks {
		n := plan.perChunk[i]
		pieces := splitText(c.Text, n)
		for k := 0; k < n; k++ {
			a := start + (c.At-start)*int64(k)/int64(n)
			b := start + (c.At-start)*int64(k+1)/int64(n)
			run.StreamToken(engine.TokenEvent{Index: index, ID: -1, Piece: pieces[k], Start: a, End: b}, i, n)
			index++
		}
		if n > 1 {
			x.SplitChunks++
		}
		start = c.At
	}
	if last := len(s.Chunks) - 1; last >= 0 {
		run.PhaseEnd(engine.PhaseDecode, s.Chunks[last].At)
		run.PhaseStart(engine.PhasePostInference, s.Chunks[last].At)
		run.PhaseEnd(engine.PhasePostInference, s.End)
	} else if s.Headers > 0 {
		run.PhaseEnd(engine.PhasePrefill, s.End)
	} else {
		run.PhaseEnd(engine.PhasePreInference, s.End)
	}
	if plan.in >= 0 {
		run.SetInputTokens(plan.in)
	}
	x.Chunks = len(s.Chunks)
	x.InputTokensSource, x.OutputTokensSource = plan.inSource, plan.outSource
	x.ReportedInputTokens, x.ReportedOutputTokens = s.PromptTokens, s.CompletionTokens
	if s.ServerModel != "" {
		x.ServerModel = s.ServerModel
	}
	x.FinishReason = s.FinishReason
	if len(s.Timings) > 0 {
		x.ServerTimings = s.Timings
	}
	x.Notes = append(x.Notes, s.Notes...)
	x.Notes = append(x.Notes, plan.notes...)
	run.SetExternal(x)
}

// IsCancel reports whether a Profile error is the caller's cancellation
// (not a stall or a server failure).
func IsCancel(err error) bool {
	return errors.Is(err, context.Canceled) && !errors.Is(err, ErrStalled)
}
