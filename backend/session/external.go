package session

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"energyprofiler/backend/engine"
	"energyprofiler/backend/external"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

// ServerRequest is one profiled request to an inference server in another
// process (ollama, llama.cpp, vLLM, …).
type ServerRequest struct {
	Server external.Request
	// ModelName is what the run is listed as ("ollama:llama3.2:1b").
	ModelName string
	Tags      []string
	// Idle is the idle baseline: 0 means the default (1 s), negative skips it.
	Idle time.Duration
	// Remote marks a server on another machine (the energy is this
	// machine's, and the run says so).
	Remote bool
	RunID  string
	// PriceUSDPerKWh and CO2GPerKWh/CO2Preset override the defaults.
	PriceUSDPerKWh float64
	CO2GPerKWh     float64
	CO2Preset      string
	// HTTP is the client to use (nil: http.DefaultClient).
	HTTP *http.Client
	// OnChunk, when set, sees each streamed chunk's text as it arrives.
	OnChunk func(text string)
}

// start begins a profiled run with this service's power feed, store and
// idle baseline, relaying live events to live (nil: none). stop must be
// called once the run has ended, to drain the live events.
func (s *Service) start(ctx context.Context, meta profiler.Meta, idle time.Duration, live func(profiler.Event)) (run *profiler.Run, stop func(), err error) {
	liveCh, stop := relayLive(live)
	feed := profiler.FeedFunc(func() (<-chan power.Sample, func()) {
		sub := s.group.Subscribe(1024)
		return sub.C(), sub.Close
	})
	p := profiler.New(profiler.Options{Power: feed, Idle: idle, Live: liveCh, Recorder: s.opts.Recorder})
	meta.Settings.Power = s.opts.PowerSpec
	run, err = p.Start(ctx, meta)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return run, stop, nil
}

// relayLive hands the profiler's live events to live on a goroutine of its
// own (so a slow consumer never slows inference). ch is nil when live is.
// stop delivers the events still waiting and ends the relay.
func relayLive(live func(profiler.Event)) (ch chan profiler.Event, stop func()) {
	done := make(chan struct{})
	quit := make(chan struct{})
	if live == nil {
		close(done)
		return nil, func() { close(quit); <-done }
	}
	ch = make(chan profiler.Event, 1024)
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-ch:
				live(ev)
			case <-quit:
				for {
					select {
					case ev := <-ch:
						live(ev)
					default:
						return
					}
				}
			}
		}
	}()
	return ch, func() { close(quit); <-done }
}

// StartWindow starts a run of kind window with this service's power and
// store, for the windows registry and `measure`.
func (s *Service) StartWindow(ctx context.Context, meta profiler.Meta, idle time.Duration) (*profiler.Run, error) {
	meta.Kind = profiler.KindWindow
	meta.Settings.Depth = "off" // nothing is traced inside a window
	run, stop, err := s.start(ctx, meta, idle, nil)
	if err != nil {
		return nil, err
	}
	stop() // a window has no live stream
	return run, nil
}

// ProfileServer sends one request to an inference server and profiles it
// like an engine run: the same power sources and idle baseline, phases and
// tokens on the same clock, stored the same way. A failed request ends its
// run as failed with the error (cancelled when ctx was), keeping what was
// measured; the returned summary is the stored run's.
func (s *Service) ProfileServer(ctx context.Context, req ServerRequest, live func(profiler.Event)) (*profiler.Summary, *external.Stream, error) {
	x := external.Describe(req.Server, req.Remote)
	name := req.ModelName
	if name == "" {
		name = req.Server.Model
	}
	run, stop, err := s.start(ctx, profiler.Meta{
		ID: req.RunID, ModelName: name, Prompt: req.Server.Prompt, Tags: req.Tags, Kind: profiler.KindServer, External: x,
		Settings: profiler.Settings{Depth: "off", MaxTokens: req.Server.MaxTokens, Sampling: serverSampling(req.Server),
			PriceUSDPerKWh: req.PriceUSDPerKWh, CO2GPerKWh: req.CO2GPerKWh, CO2Preset: req.CO2Preset},
	}, req.Idle, live)
	if err != nil {
		return nil, nil, fmt.Errorf("start run: %w", err)
	}
	defer stop()
	var tracer external.Tracer = run
	if req.OnChunk != nil {
		tracer = chunkTap{run, req.OnChunk}
	}
	stream, perr := external.Profile(ctx, req.HTTP, tracer, req.Server, x)
	var sum *profiler.Summary
	if perr != nil {
		sum, err = run.Abort(perr)
	} else {
		sum, err = run.Finish()
	}
	if err != nil {
		return nil, stream, fmt.Errorf("finish run: %w", err)
	}
	return sum, stream, perr
}

func serverSampling(r external.Request) profiler.Sampling {
	s := profiler.Sampling{Greedy: r.Temperature != nil && *r.Temperature == 0}
	if r.Temperature != nil {
		s.Temperature = *r.Temperature
	}
	if r.TopP != nil {
		s.TopP = *r.TopP
	}
	if r.Seed != nil {
		s.Seed = *r.Seed
	}
	return s
}

// chunkTap passes each previewed chunk's text to a callback too.
type chunkTap struct {
	*profiler.Run
	onChunk func(string)
}

func (c chunkTap) Preview(ev engine.TokenEvent) {
	c.Run.Preview(ev)
	c.onChunk(ev.Piece)
}

// ExecuteServer runs req as the queued job runID, relaying live events to
// emit like Execute.
func (s *Service) ExecuteServer(ctx context.Context, runID string, req ServerRequest, emit func(queue.Event)) (any, error) {
	req.RunID = runID
	sources := s.Sources()
	view := Request{ModelName: req.ModelName, Prompt: req.Server.Prompt, Depth: "server", MaxTokens: req.Server.MaxTokens}
	sum, _, err := s.ProfileServer(ctx, req, func(pe profiler.Event) {
		if le, ok := Translate(pe, view, sources); ok {
			if le.Type == "run" {
				le.Data["kind"] = profiler.KindServer
			}
			emit(queue.Event{JobID: runID, Type: le.Type, Data: le.Data})
		}
	})
	if sum == nil {
		return nil, err
	}
	return sum, err
}
