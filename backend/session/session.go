// Package session runs profiling sessions end to end, for the API's run
// queue, the CLI's profile command and the desktop's quick profile alike: it
// loads the model (keeping recently used ones loaded), keeps the power
// samplers running, runs the engine under a profiler run, hands the result to
// storage, and turns the profiler's live events into the dashboard's live
// stream.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/helper/helperpower"
	"energyprofiler/backend/model"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/thermal"
	"energyprofiler/backend/tokenizer"
)

// Options configure a Service.
type Options struct {
	// PowerSpec chooses the power sources: "" or "auto" for the best
	// available per domain, or a list such as "rapl,nvml" or "replay:FILE".
	PowerSpec string
	Power     power.Options
	// SampleInterval is the power sampling interval (default 100 ms).
	SampleInterval time.Duration
	// Recorder stores runs (the store); nil keeps them in memory only.
	Recorder profiler.Recorder
	// Threads is the engine's worker count (0: GOMAXPROCS).
	Threads int
	// Backend is the compute backend when a request names none: auto
	// (default), cpu or metal (see package engine/metal).
	Backend string
	// Chooser overrides how backends are opened (tests); its Threads is
	// set from Threads.
	Chooser *metal.Chooser
	// MaxLoadedModels is how many models stay loaded between runs (default 1).
	MaxLoadedModels int
	Logger          *slog.Logger
}

// Service runs profiling sessions. It is safe for concurrent use, but runs
// one generation at a time per model (the API's queue serialises them all).
type Service struct {
	opts    Options
	set     *power.Set
	group   *power.Group
	thermal *thermal.Reader

	mu     sync.Mutex
	loaded []*loadedModel // most recently used last
}

type loadedModel struct {
	path    string
	backend string       // the backend asked for (auto, cpu, metal)
	choice  metal.Choice // what it turned into
	model   *model.Model
	tok     *tokenizer.Tokenizer
	// tokStamp is tokenizer.json as loaded (the model tracks its own files).
	tokStamp model.FileStamp
	eng      *engine.Engine
	facts    model.Facts
	// chat is the model's chat template, or nil with chatErr saying why.
	chat    *chatFormat
	chatErr error
}

// New selects the power sources and starts sampling them; sampling runs
// until Close so that live power and idle baselines are always at hand.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.MaxLoadedModels <= 0 {
		opts.MaxLoadedModels = 1
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Power = PowerOptions(opts.Power)
	s := &Service{opts: opts, thermal: thermal.NewReader()}
	set, err := power.Select(opts.PowerSpec, opts.Power)
	if err != nil {
		if opts.PowerSpec != "" && opts.PowerSpec != "auto" {
			return nil, fmt.Errorf("power source %q: %w", opts.PowerSpec, err)
		}
		// Nothing can be read here: profile anyway, with every energy
		// reported unavailable rather than refusing to run.
		opts.Logger.Warn("no power source; energy will be unavailable (run 'energyprofiler doctor')", "err", err)
		set = &power.Set{}
	}
	s.set = set
	group, err := set.Start(ctx, power.SamplerOptions{Interval: opts.SampleInterval})
	if err != nil {
		return nil, fmt.Errorf("start power sampling: %w (run 'energyprofiler doctor')", err)
	}
	s.group = group
	return s, nil
}

// PowerOptions fills in what every part of the product should read power
// with: on macOS powermetrics needs root, so it is read through the
// privileged helper when one is installed (elsewhere it is unavailable), and
// the IOReport probe runs once per process, not once per /api/health.
func PowerOptions(o power.Options) power.Options {
	if o.Powermetrics.Helper == nil {
		o.Powermetrics.Helper = helperpower.New("")
	}
	if o.Probes == nil {
		o.Probes = power.NewProbes()
	}
	return o
}

// Close stops sampling and unloads every model.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lm := range s.loaded {
		lm.close()
	}
	s.loaded = nil
	return s.group.Stop()
}

// Power returns the running power samplers (for live watts and health).
func (s *Service) Power() *power.Group { return s.group }

// Sources describes the chosen sources and the domains each covers.
func (s *Service) Sources() []profiler.SourceUse {
	out := []profiler.SourceUse{}
	for _, c := range s.set.Choices {
		out = append(out, profiler.SourceUse{Name: c.Source.Name(), Kind: c.Source.Kind(), Domains: c.Domains})
	}
	return out
}

// Request is one profiling session.
type Request struct {
	ModelPath string
	// ModelName is what the run is listed as (default: the folder's name).
	ModelName string
	Prompt    string
	MaxTokens int
	Depth     string // module | deep | off
	Sampling  profiler.Sampling
	Tags      []string
	// Idle is the idle baseline: 0 means the default (1 s), negative skips it.
	Idle time.Duration
	// IgnoreEOS generates exactly MaxTokens (fair comparisons across runs).
	IgnoreEOS bool
	// Chat formats Prompt as one user message with the model's chat
	// template and stops at its end-of-turn tokens.
	Chat bool
	// Messages, when set, is a whole conversation to answer (Prompt is then
	// only what the run is listed with): rendered by the model's chat
	// template with its end-of-turn tokens as stops, or, for a model without
	// a template, by chat.Plain (recorded as such in the run's settings).
	Messages []chat.Message
	// Backend is auto, cpu or metal; "" is the service's default.
	Backend string
	// OnToken, when set, sees each token as the engine produces it, on the
	// generating goroutine (for a terminal progress bar); it must be quick.
	OnToken func(engine.TokenEvent)
	// Prepared, when set, is called once the model is loaded, before the
	// idle baseline starts.
	Prepared func()
	// RunID, when set, is the ID the run is stored under (the API hands it
	// out while the run is still queued).
	RunID       string
	RepeatGroup string
	// PriceUSDPerKWh and CO2GPerKWh/CO2Preset override the defaults.
	PriceUSDPerKWh float64
	CO2GPerKWh     float64
	CO2Preset      string
}

// Result is what a finished session returns.
type Result struct {
	Summary *profiler.Summary
	Text    string
	Stop    engine.StopReason
}

// Profile runs one session: it loads the model, measures the idle baseline,
// generates under the profiler and stores the run. live, when not nil,
// receives the profiler's live events on a separate goroutine; it may be
// slow without slowing inference. A cancelled ctx ends the run as cancelled
// and still stores what was measured.
func (s *Service) Profile(ctx context.Context, req Request, live func(profiler.Event)) (*Result, error) {
	if req.MaxTokens <= 0 {
		return nil, errors.New("max tokens must be at least 1")
	}
	backend := req.Backend
	if backend == "" {
		backend = s.opts.Backend
	}
	backend, err := metal.ParseKind(backend)
	if err != nil {
		return nil, err
	}
	lm, err := s.load(req.ModelPath, backend)
	if err != nil {
		return nil, err
	}
	name := req.ModelName
	if name == "" {
		name = filepath.Base(req.ModelPath)
	}

	prompt, templated := req.Prompt, false
	var chatSettings *profiler.ChatSettings
	switch {
	case len(req.Messages) > 0:
		if prompt, chatSettings, templated, err = lm.renderMessages(req.Messages); err != nil {
			return nil, chatError(req.ModelPath, err)
		}
	case req.Chat:
		if lm.chat == nil {
			return nil, chatError(req.ModelPath, lm.chatErr)
		}
		if prompt, chatSettings, err = lm.chat.render(req.Prompt); err != nil {
			return nil, chatError(req.ModelPath, err)
		}
		templated = true
	}

	if req.Prepared != nil {
		req.Prepared()
	}
	liveCh, stopLive := relayLive(live)
	defer stopLive()

	feed := profiler.FeedFunc(func() (<-chan power.Sample, func()) {
		sub := s.group.Subscribe(1024)
		return sub.C(), sub.Close
	})
	p := profiler.New(profiler.Options{Power: feed, Idle: req.Idle, Live: liveCh, Recorder: s.opts.Recorder, Conditions: s.thermal.Read})
	run, err := p.Start(ctx, profiler.Meta{
		ID:        req.RunID,
		ModelName: name,
		ModelPath: req.ModelPath,
		Prompt:    req.Prompt,
		Tags:      req.Tags,
		Settings: profiler.Settings{
			Depth:          req.Depth,
			MaxTokens:      req.MaxTokens,
			Sampling:       req.Sampling,
			Power:          s.opts.PowerSpec,
			PriceUSDPerKWh: req.PriceUSDPerKWh,
			CO2GPerKWh:     req.CO2GPerKWh,
			CO2Preset:      req.CO2Preset,
			RepeatGroup:    req.RepeatGroup,
			Backend:        lm.eng.BackendName(),
			Device:         lm.choice.Device,
			BackendNote:    lm.choice.Reason,
			Chat:           chatSettings,
		},
		Arch: architecture(lm.facts),
	})
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}

	var stopIDs []int
	if templated {
		stopIDs = lm.chat.stopIDs
	}
	res, genErr := lm.eng.Generate(ctx, engine.Request{
		Prompt:    prompt,
		Templated: templated,
		StopIDs:   stopIDs,
		MaxTokens: req.MaxTokens,
		Sampling: engine.Sampling{
			Greedy:      req.Sampling.Greedy,
			Temperature: req.Sampling.Temperature,
			TopK:        req.Sampling.TopK,
			TopP:        req.Sampling.TopP,
			Seed:        uint64(req.Sampling.Seed),
		},
		IgnoreEOS: req.IgnoreEOS,
	}, run, req.OnToken)
	run.SetInputTokens(len(res.PromptIDs))

	var summary *profiler.Summary
	if genErr != nil {
		summary, err = run.Abort(genErr)
	} else {
		summary, err = run.Finish()
	}
	if err != nil {
		return nil, fmt.Errorf("finish run: %w", err)
	}
	out := &Result{Summary: summary, Text: res.Text, Stop: res.StopReason}
	if genErr != nil {
		return out, fmt.Errorf("generate: %w", genErr)
	}
	return out, nil
}

// architecture converts the model's facts into the run's description.
func architecture(f model.Facts) *profiler.Architecture {
	return &profiler.Architecture{
		ModelType:       f.ModelType,
		Layers:          f.Layers,
		Hidden:          f.Hidden,
		Intermediate:    f.Intermediate,
		Heads:           f.Heads,
		KVHeads:         f.KVHeads,
		AttentionKind:   f.Attention,
		ParamsTotal:     f.ParamsTotal,
		ParamsActive:    f.ParamsActive,
		Experts:         f.Experts,
		TopK:            f.TopK,
		SharedExperts:   f.SharedExperts,
		MoELayers:       f.MoELayers,
		Dtype:           f.DType,
		KVBytesPerToken: f.KVCacheBytesPerToken,
		FLOPsPerToken:   f.FLOPsPerTokenBase,
	}
}
