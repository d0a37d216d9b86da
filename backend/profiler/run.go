package profiler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/power"
	"energyprofiler/backend/thermal"
)

// Feed is where runs read power samples from. Subscribe returns a channel of
// samples taken from now on and a function that ends the subscription (and
// closes or abandons the channel). The power package's sampler is adapted to it.
type Feed interface {
	Subscribe() (samples <-chan power.Sample, cancel func())
}

// Recorder persists runs (store.Store implements it). Both calls must return
// at once and do their disk work elsewhere: they are made on the caller's
// goroutine, which may be the one generating tokens.
type Recorder interface {
	RunStarted(info RunInfo)
	RunFinished(rec *Record)
}

// endingRecorder is a Recorder that can store a run's terminal status
// before its record is built. A run that stops short (cancelled, failed)
// tells it first: attributing energy to every token and component takes a
// while, and a process asked to stop may exit before the record is stored;
// the run then keeps its true status instead of being found "interrupted".
type endingRecorder interface {
	RunEnding(info RunInfo)
}

// DefaultIdle is the idle baseline measured before inference when Options.Idle is 0.
const DefaultIdle = time.Second

// Options configure a Profiler. The zero value works: no power (every energy
// unavailable), a 1 s idle baseline, no live stream, no storage.
type Options struct {
	// Power feeds samples to every run; nil means no power source.
	Power Feed
	// Idle is how long to measure idle power before inference: 0 means
	// DefaultIdle, a negative value skips the baseline.
	Idle time.Duration
	// Live, when set, receives live events. Sends never block: when the
	// channel is full the event is dropped and counted.
	Live chan<- Event
	// Recorder, when set, is told when runs start and finish.
	Recorder Recorder
	// Host overrides the detected host description.
	Host *Host
	// MeasuredMinIntervals: a window at least this many median sample
	// intervals long is "measured", shorter is "apportioned" (default 2).
	MeasuredMinIntervals float64
	// CounterResolutionMJ gives a source's counter resolution in mJ per
	// reading (default DefaultResolutionMJ).
	CounterResolutionMJ func(source string) float64
	// FlushTimeout bounds how long Finish waits for samples covering the
	// end of the run (default 1 s).
	FlushTimeout time.Duration
	// Conditions, when set, reads the machine's thermal and power state
	// (thermal.Reader.Read); it is read as a run starts and as it ends, and
	// kept with the run's host description.
	Conditions func() thermal.State
}

// Profiler starts runs.
type Profiler struct {
	opts     Options
	hostOnce sync.Once
	host     Host
}

// New returns a Profiler with opts (see Options for defaults).
func New(opts Options) *Profiler {
	if opts.MeasuredMinIntervals <= 0 {
		opts.MeasuredMinIntervals = 2
	}
	if opts.CounterResolutionMJ == nil {
		opts.CounterResolutionMJ = DefaultResolutionMJ
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = time.Second
	}
	return &Profiler{opts: opts}
}

// ErrFinished is returned by Finish or Abort on a run that already ended.
var ErrFinished = errors.New("run already finished")

type livePower struct {
	source string
	kind   power.Kind
	watts  float64
}

type phaseSpan struct {
	phase      string
	start, end int64 // end is 0 while open
}

type tokenEv struct {
	engine.TokenEvent
	phase       string
	chunk       int // -1: not streamed
	chunkTokens int
}

// Run is one profiled run. It implements engine.Tracer: pass it to the
// engine's Generate and its events are attributed energy at Finish.
type Run struct {
	p     *Profiler
	id    string
	depth engine.Depth
	t0    int64 // clock at Start; every stored time is relative to it

	mu          sync.Mutex
	info        RunInfo
	samples     []power.Sample
	live        map[power.Domain]livePower // latest power per domain, best kind wins
	liveTotalW  float64                    // their total without double counting
	liveLabel   string
	phases      []phaseSpan
	curPhase    string
	tokens      []tokenEv
	compLog     chunks[engine.ComponentEvent] // appended on the hot path
	comps       []engine.ComponentEvent       // compLog flattened at the end
	inputTokens int
	// tokenCounts, when set, replace the counts taken from the events
	// (a window's tokens are only counted by its caller).
	tokenCounts *tokenCounts
	idleA       int64
	idleB       int64
	begin       int64
	ending      bool // Finish or Abort has begun
	finished    bool // no more samples are taken
	record      *Record
	summary     *Summary

	cancelFeed func()
	feedDone   chan struct{}

	// Live-stream state, touched only on the generating goroutine.
	lastPosition int64
	heatDur      [][]float64 // per layer × heatComps index, ns since the last token
	heatComps    []string    // layer components in the order first seen
	dropped      atomic.Int64
}

// Start begins a run: it subscribes to power, measures the idle baseline
// (blocking for Options.Idle) and returns the run, ready for engine events.
func (p *Profiler) Start(ctx context.Context, meta Meta) (*Run, error) {
	r := &Run{p: p, t0: clock.Now(), live: map[power.Domain]livePower{}}
	r.depth = depthOf(meta.Settings.Depth)
	if meta.Settings.PriceUSDPerKWh == 0 {
		meta.Settings.PriceUSDPerKWh = DefaultPriceUSDPerKWh
	}
	if meta.Settings.CO2GPerKWh == 0 {
		meta.Settings.CO2GPerKWh = DefaultCO2GPerKWh
		if meta.Settings.CO2Preset == "" {
			meta.Settings.CO2Preset = DefaultCO2Preset
		}
	}
	if meta.Settings.CO2Preset == "" {
		meta.Settings.CO2Preset = "custom"
	}
	if meta.Tags == nil {
		meta.Tags = []string{}
	}
	idle := p.opts.Idle
	if idle == 0 {
		idle = DefaultIdle
	}
	if idle < 0 {
		idle = 0
	}
	meta.Settings.IdleS = idle.Seconds()
	p.hostOnce.Do(func() {
		if p.opts.Host != nil {
			p.host = *p.opts.Host
		} else {
			p.host = DetectHost()
		}
	})
	host := p.host
	if p.opts.Conditions != nil {
		st := p.opts.Conditions()
		host.Conditions = &thermal.Conditions{Start: &st}
	}
	if meta.Settings.Depth == "" {
		meta.Settings.Depth = "module"
	}
	id := meta.ID
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("run id %q is not a UUID: %w", id, err)
	}
	meta.ID = ""
	meta.External = cloneExternal(meta.External) // the caller goes on filling in its own
	r.id = id
	r.info = RunInfo{ID: id, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Status: StatusRunning, Host: host, Sources: []SourceUse{}, Meta: meta}

	if p.opts.Power != nil {
		ch, cancel := p.opts.Power.Subscribe()
		r.cancelFeed = cancel
		r.feedDone = make(chan struct{})
		go r.consume(ch)
	}
	if p.opts.Recorder != nil {
		p.opts.Recorder.RunStarted(r.info)
	}
	r.send(Event{Type: "run_started", Status: StatusRunning})

	r.idleA = clock.Now()
	if idle > 0 {
		r.send(Event{Type: "idle"})
		timer := time.NewTimer(idle)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			r.idleB = clock.Now()
			_, _ = r.Abort(ctx.Err())
			return nil, fmt.Errorf("run %s cancelled during its idle baseline (recorded as cancelled): %w", r.id, ctx.Err())
		}
	}
	r.idleB = clock.Now()
	if idle == 0 {
		r.idleB = r.idleA // no baseline
	}
	r.begin = clock.Now()
	return r, nil
}

func depthOf(s string) engine.Depth {
	switch s {
	case "deep":
		return engine.DepthDeep
	case "off":
		return engine.DepthOff
	default:
		return engine.DepthModule
	}
}

// ID returns the run's UUID.
func (r *Run) ID() string { return r.id }

// Info returns a copy of the run's description.
func (r *Run) Info() RunInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

// SetInputTokens records the prompt length; without it the prompt length is
// taken from the prefill components' positions.
func (r *Run) SetInputTokens(n int) {
	r.mu.Lock()
	r.inputTokens = n
	r.mu.Unlock()
}

type tokenCounts struct {
	in, out           int
	inLabel, outLabel string
}

// SetTokenCounts records token counts that the run's events do not carry
// (a window's, given by its caller) with where each came from; a negative
// count is unknown and shown as unavailable.
func (r *Run) SetTokenCounts(in, out int, inLabel, outLabel string) {
	r.mu.Lock()
	r.tokenCounts = &tokenCounts{in: in, out: out, inLabel: inLabel, outLabel: outLabel}
	r.mu.Unlock()
}

// SetExternal replaces the run's server description (its token counts and
// server timings are known only at the end of the stream).
func (r *Run) SetExternal(x *External) {
	r.mu.Lock()
	r.info.External = cloneExternal(x)
	r.mu.Unlock()
}

// Annotate adds tags (keeping the existing ones, without duplicates) and
// replaces the note, for callers that learn them only at the end.
func (r *Run) Annotate(tags []string, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string{}, r.info.Tags...)
	for _, t := range tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	r.info.Tags = out
	if note != "" {
		r.info.Note = note
	}
}

// AddSample adds a power sample (for callers that feed samples themselves
// instead of through Options.Power).
func (r *Run) AddSample(s power.Sample) {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return
	}
	r.samples = append(r.samples, s)
	watts := make(map[power.Domain]float64, len(s.Domains))
	if s.T1 > s.T0 {
		for d, rd := range s.Domains {
			w := rd.Energy(s.T1-s.T0) * 1e6 / float64(s.T1-s.T0)
			watts[d] = w
			if old, ok := r.live[d]; !ok || old.source == s.Source || kindRank(s.Kind) < kindRank(old.kind) {
				r.live[d] = livePower{source: s.Source, kind: s.Kind, watts: w}
			}
		}
		// The live total uses the same no-double-counting rule as the record.
		domains := make(map[power.Domain]DomainEnergy, len(r.live))
		for d, lp := range r.live {
			domains[d] = DomainEnergy{GrossJ: lp.watts, Coverage: 1, Basis: BasisApportioned, Source: lp.source}
			if lp.kind == power.KindEstimate {
				domains[d] = DomainEnergy{GrossJ: lp.watts, Coverage: 1, Basis: BasisEstimated, Source: lp.source}
			}
		}
		if t := total(domains); t != nil {
			r.liveTotalW, r.liveLabel = t.GrossJ, t.Label+" (live)"
		}
	}
	r.mu.Unlock()
	r.send(Event{Type: "power", TNs: s.T1 - r.t0, Power: &LivePower{Source: s.Source, Kind: s.Kind, Watts: watts}})
}

func (r *Run) consume(ch <-chan power.Sample) {
	defer close(r.feedDone)
	for s := range ch {
		r.AddSample(s)
	}
}

func (r *Run) stopFeed() {
	if r.cancelFeed == nil {
		return
	}
	r.cancelFeed()
	r.cancelFeed = nil
	// A feed that abandons rather than closes its channel must not hang us.
	select {
	case <-r.feedDone:
	case <-time.After(200 * time.Millisecond):
	}
}

// Depth implements engine.Tracer.
func (r *Run) Depth() engine.Depth { return r.depth }

// PhaseStart implements engine.Tracer.
func (r *Run) PhaseStart(p engine.Phase, t int64) {
	r.mu.Lock()
	r.phases = append(r.phases, phaseSpan{phase: string(p), start: t})
	r.curPhase = string(p)
	r.mu.Unlock()
	if p == engine.PhasePrefill { // the prompt pass's heatmap goes with the first token
		for _, row := range r.heatDur {
			clear(row)
		}
	}
	r.send(Event{Type: "phase", TNs: t - r.t0, Phase: string(p)})
}

// PhaseEnd implements engine.Tracer.
func (r *Run) PhaseEnd(p engine.Phase, t int64) {
	r.mu.Lock()
	for i := len(r.phases) - 1; i >= 0; i-- {
		if r.phases[i].phase == string(p) && r.phases[i].end == 0 {
			r.phases[i].end = t
			break
		}
	}
	r.mu.Unlock()
}

// StreamToken records a token that arrived in streamed chunk number chunk
// together with chunkTokens−1 others (a server run). Unlike Token it sends
// no live event: a server's tokens are counted only once its stream has
// ended, and Preview showed them live as they arrived.
func (r *Run) StreamToken(ev engine.TokenEvent, chunk, chunkTokens int) {
	r.mu.Lock()
	r.tokens = append(r.tokens, tokenEv{ev, r.curPhase, chunk, chunkTokens})
	r.mu.Unlock()
}

// Preview sends a live token event without recording a token.
func (r *Run) Preview(ev engine.TokenEvent) {
	r.mu.Lock()
	phase := r.curPhase
	r.mu.Unlock()
	r.sendToken(ev, phase)
}

// Token implements engine.Tracer.
func (r *Run) Token(ev engine.TokenEvent) {
	r.mu.Lock()
	phase := r.curPhase
	r.tokens = append(r.tokens, tokenEv{ev, phase, -1, 0})
	r.mu.Unlock()
	r.sendToken(ev, phase)
}

func (r *Run) sendToken(ev engine.TokenEvent, phase string) {
	if r.p.opts.Live == nil {
		return
	}
	r.mu.Lock()
	liveW, have, label := r.liveTotalW, r.liveLabel != "", r.liveLabel
	r.mu.Unlock()
	dur := float64(ev.End-ev.Start) / 1e9
	tok := &LiveToken{Index: ev.Index, ID: ev.ID, Text: ev.Piece, DurationMs: dur * 1e3, Label: string(BasisUnavailable)}
	if have {
		e := liveW * dur
		tok.EnergyJ = &e
		tok.Label = label
	}
	r.send(Event{Type: "token", TNs: ev.End - r.t0, Phase: phase, Token: tok})
	if r.heatDur != nil {
		hm := &Heatmap{TokenIndex: ev.Index, Components: slices.Clone(r.heatComps), DurationUs: make([][]float64, len(r.heatDur))}
		var totalNs float64
		for _, row := range r.heatDur {
			for _, v := range row {
				totalNs += v
			}
		}
		if have && totalNs > 0 {
			hm.EnergyJ = make([][]float64, len(r.heatDur))
		}
		for l, row := range r.heatDur {
			hm.DurationUs[l] = make([]float64, len(r.heatComps))
			if hm.EnergyJ != nil {
				hm.EnergyJ[l] = make([]float64, len(r.heatComps))
			}
			for c, v := range row {
				hm.DurationUs[l][c] = v / 1e3
				if hm.EnergyJ != nil {
					hm.EnergyJ[l][c] = liveW * v / 1e9
				}
				row[c] = 0
			}
		}
		hm.Label = tok.Label
		r.send(Event{Type: "heatmap", TNs: ev.End - r.t0, Heatmap: hm})
	}
}

// Component implements engine.Tracer.
func (r *Run) Component(ev engine.ComponentEvent) {
	r.mu.Lock()
	r.compLog.add(ev)
	r.mu.Unlock()
	if r.p.opts.Live == nil {
		return
	}
	if ev.Layer >= 0 {
		ci := r.heatColumn(string(ev.Component))
		for len(r.heatDur) <= ev.Layer {
			r.heatDur = append(r.heatDur, nil)
		}
		for len(r.heatDur[ev.Layer]) <= ci {
			r.heatDur[ev.Layer] = append(r.heatDur[ev.Layer], 0)
		}
		r.heatDur[ev.Layer][ci] += float64(ev.End - ev.Start)
	}
	// Position updates are throttled to one per 10 ms.
	if ev.End-r.lastPosition >= 10_000_000 {
		r.lastPosition = ev.End
		layer := ev.Layer
		r.send(Event{Type: "position", TNs: ev.End - r.t0, Phase: string(ev.Phase), Layer: &layer, Component: string(ev.Component)})
	}
}

// heatColumn is c's column in the live heatmap, adding one the first time
// c is seen. Expert calls ("experts.N") share one "experts" column.
func (r *Run) heatColumn(c string) int {
	if strings.HasPrefix(c, "experts.") {
		c = "experts"
	}
	for i, x := range r.heatComps {
		if x == c {
			return i
		}
	}
	r.heatComps = append(r.heatComps, c)
	return len(r.heatComps) - 1
}

// Finish ends the run as completed, attributes energy to every phase, token
// and component, hands the record to the Recorder and returns the summary.
func (r *Run) Finish() (*Summary, error) { return r.end(StatusCompleted, "") }

// Abort ends the run as cancelled (when err is a context error) or failed,
// keeping and attributing what was recorded so far.
func (r *Run) Abort(err error) (*Summary, error) {
	status := StatusFailed
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		status = StatusCancelled
	}
	return r.end(status, abortReason(err))
}

// abortReason says in words why a run stopped early: a bare context error
// ("context canceled") tells a reader nothing about what happened.
func abortReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "cancelled while running (a cancel request, or the process was asked to stop); what was measured until then is kept"
	case errors.Is(err, context.DeadlineExceeded):
		return "stopped while running: its time limit ran out; what was measured until then is kept"
	}
	return err.Error()
}

// End ends the run with the given terminal status and reason (an energy
// window closed as abandoned, a run cut short by a server shutting down),
// keeping and attributing what was recorded so far.
func (r *Run) End(status Status, reason string) (*Summary, error) {
	return r.end(status, reason)
}

// Record returns the full record once the run has ended, else nil.
func (r *Run) Record() *Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.record
}

// DroppedEvents counts live events dropped because the channel was full.
func (r *Run) DroppedEvents() int64 { return r.dropped.Load() }

func (r *Run) send(ev Event) {
	if r.p.opts.Live == nil {
		return
	}
	ev.RunID = r.id
	select {
	case r.p.opts.Live <- ev:
	default:
		r.dropped.Add(1)
	}
}

func (r *Run) end(status Status, errMsg string) (*Summary, error) {
	now := clock.Now()
	r.mu.Lock()
	if r.ending {
		sum := r.summary
		r.mu.Unlock()
		return sum, ErrFinished
	}
	r.ending = true
	// The run window: from the first phase start to the last phase end, or
	// from the end of the idle baseline to now when no phases were traced.
	runA, runB := r.begin, now
	if len(r.phases) > 0 {
		runA, runB = r.phases[0].start, r.phases[0].start
		for i := range r.phases {
			if r.phases[i].end == 0 {
				r.phases[i].end = now
			}
			runA = min(runA, r.phases[i].start)
			runB = max(runB, r.phases[i].end)
		}
	}
	early := r.info
	r.mu.Unlock()

	if status == StatusCompleted {
		r.waitCoverage(runB) // an aborted run does not wait for its last samples
	} else if rec, ok := r.p.opts.Recorder.(endingRecorder); ok {
		finished := time.Now().UTC().Truncate(time.Millisecond)
		// The record, when it is stored, replaces this reason with errMsg.
		early.Status, early.FinishedAt = status, &finished
		early.Error = strings.TrimSpace(errMsg + " (its measurements were not stored: the process stopped before they were written)")
		rec.RunEnding(early)
	}
	r.stopFeed()

	r.mu.Lock()
	r.finished = true
	samples := r.samples
	r.comps = r.compLog.flatten()
	r.mu.Unlock()

	opts := r.p.opts
	tl := buildTimeline(samples, opts.CounterResolutionMJ, opts.MeasuredMinIntervals)
	var idleW map[power.Domain]float64
	if r.idleB > r.idleA {
		idleW = tl.idlePowerW(r.idleA, r.idleB)
	}

	finished := time.Now().UTC().Truncate(time.Millisecond) // the store keeps ms
	info := r.info
	info.Status = status
	info.Error = errMsg
	info.FinishedAt = &finished
	info.Sources = sourcesOf(samples)
	if opts.Conditions != nil && info.Host.Conditions != nil {
		st := opts.Conditions()
		c := *info.Host.Conditions
		c.End = &st
		info.Host.Conditions = &c
	}
	rec := &Record{Run: info}
	r.attribute(rec, tl, idleW, runA, runB)
	rec.Samples = make([]SampleRecord, 0, len(samples))
	for _, s := range samples {
		rec.Samples = append(rec.Samples, SampleRecord{T0Ns: s.T0 - r.t0, T1Ns: s.T1 - r.t0, Source: s.Source, Kind: s.Kind, Domains: s.Domains})
	}
	in := r.inputTokens
	if in == 0 {
		for _, c := range r.comps {
			if c.Phase == engine.PhasePrefill {
				in = max(in, c.Positions)
			}
		}
	}
	sum := summarize(rec, tl, idleW, runA, runB, in, r.tokenCounts)
	if r.idleB > r.idleA {
		sum.setNetNoise(tl, r.idleA, r.idleB, runA, runB)
	}
	sum.RunStartNs, sum.RunEndNs = runA-r.t0, runB-r.t0
	if r.idleB > r.idleA {
		a, b := r.idleA-r.t0, r.idleB-r.t0
		sum.IdleStartNs, sum.IdleEndNs = &a, &b
	}
	sum.DroppedLiveEvents = r.dropped.Load()
	rec.Summary = sum

	r.mu.Lock()
	r.info = info
	r.record = rec
	r.summary = sum
	r.mu.Unlock()

	if opts.Recorder != nil {
		opts.Recorder.RunFinished(rec)
	}
	r.send(Event{Type: "completed", TNs: runB - r.t0, Status: status, Error: errMsg, Summary: sum})
	return sum, nil
}

// waitCoverage waits (up to FlushTimeout) until every domain seen so far has
// a sample reaching t, so the end of the run is measured, not cut off.
func (r *Run) waitCoverage(t int64) {
	if r.cancelFeed == nil {
		return
	}
	deadline := time.Now().Add(r.p.opts.FlushTimeout)
	for {
		r.mu.Lock()
		tails := map[power.Domain]int64{}
		for _, s := range r.samples {
			for d := range s.Domains {
				if v, ok := tails[d]; !ok || s.T1 > v {
					tails[d] = s.T1
				}
			}
		}
		r.mu.Unlock()
		done := len(tails) > 0
		for _, v := range tails {
			if v < t {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// attribute fills phases, tokens, components and layer metrics.
func (r *Run) attribute(rec *Record, tl *timeline, idleW map[power.Domain]float64, runA, runB int64) {
	rel := func(t int64) int64 { return t - r.t0 }

	phases := append([]phaseSpan(nil), r.phases...)
	sort.SliceStable(phases, func(i, j int) bool { return phases[i].start < phases[j].start })
	var decodeA, decodeB int64
	hasDecode := false
	for i, p := range phases {
		wa, wb := p.start, runB
		if i+1 < len(phases) {
			wb = phases[i+1].start
		}
		if i == 0 {
			wa = runA
		}
		rec.Phases = append(rec.Phases, PhaseRecord{
			Phase: p.phase, StartNs: rel(p.start), EndNs: rel(p.end),
			WindowStartNs: rel(wa), WindowEndNs: rel(wb),
			Energy: tl.energy(wa, wb, idleW),
		})
		if p.phase == string(engine.PhaseDecode) && !hasDecode {
			decodeA, decodeB, hasDecode = wa, wb, true
		}
	}

	// A token belongs to the phase in which it became known (its End): the
	// engine reports the first token, sampled from the prefill pass, only
	// once decode has begun.
	for i := range r.tokens {
		t := &r.tokens[i]
		for _, p := range phases {
			if t.End > p.start && t.End <= p.end {
				t.phase = p.phase
				break
			}
		}
	}

	// Token windows: decode tokens tile the decode phase.
	type win struct{ a, b int64 }
	wins := make([]win, len(r.tokens))
	var decodeIdx []int
	for i, t := range r.tokens {
		wins[i] = win{t.Start, t.End}
		if hasDecode && t.phase == string(engine.PhaseDecode) {
			decodeIdx = append(decodeIdx, i)
		}
	}
	for k, i := range decodeIdx {
		if k == 0 {
			wins[i].a = decodeA
		} else {
			wins[i].a = r.tokens[decodeIdx[k-1]].End
		}
		if k == len(decodeIdx)-1 {
			wins[i].b = decodeB
		}
		if wins[i].b < wins[i].a {
			wins[i].b = wins[i].a
		}
	}
	rec.Tokens = make([]TokenRecord, len(r.tokens))
	for i, t := range r.tokens {
		rec.Tokens[i] = TokenRecord{
			Index: t.Index, ID: t.ID, Piece: t.Piece, Phase: t.phase,
			StartNs: rel(t.Start), EndNs: rel(t.End),
			WindowStartNs: rel(wins[i].a), WindowEndNs: rel(wins[i].b),
			Energy: tl.energy(wins[i].a, wins[i].b, idleW),
		}
		if t.chunk >= 0 {
			c := t.chunk
			rec.Tokens[i].Chunk, rec.Tokens[i].ChunkTokens = &c, t.chunkTokens
		}
	}

	// Components go to the token whose window holds their start.
	order := make([]int, len(wins))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return wins[order[x]].a < wins[order[y]].a })
	tokenOf := func(t int64) int {
		k := sort.Search(len(order), func(k int) bool { return wins[order[k]].a > t }) - 1
		if k >= 0 && t < wins[order[k]].b {
			return order[k]
		}
		return -1
	}
	compSum := make([]float64, len(r.tokens))
	type aggKey struct {
		phase, comp string
		layer       int
	}
	type agg struct {
		m                LayerMetric
		energy           float64
		hasEnergy        bool
		basis            Basis
		source           string
		maxAbs, sparsity float64
		statCalls        int
	}
	aggs := map[aggKey]*agg{}
	var aggOrder []aggKey
	rec.Components = make([]ComponentRecord, len(r.comps))
	plan := tl.plan()
	energies := make([]float64, len(r.comps)) // one allocation for every component's value
	labels := labelCache{}
	for i, c := range r.comps {
		ti := tokenOf(c.Start)
		tokIndex := -1
		if ti >= 0 {
			tokIndex = r.tokens[ti].Index
		}
		cr := ComponentRecord{
			TokenIndex: tokIndex, Phase: string(c.Phase), Layer: c.Layer, Component: string(c.Component),
			StartNs: rel(c.Start), EndNs: rel(c.End), Positions: c.Positions,
			Basis: BasisUnavailable, Label: string(BasisUnavailable),
		}
		if v, unc, basis, ok := tl.totalJ(plan, c.Start, c.End); ok {
			cr.EnergyJ, cr.UncertaintyJ, cr.Basis = &energies[i], unc, basis
			energies[i] = v
			cr.Label = labels.get(basis, plan.source)
			if ti >= 0 {
				compSum[ti] += v
			}
		}
		if c.Stats != nil {
			cr.Stats = &ActivationStats{Mean: c.Stats.Mean, Std: c.Stats.Std, MaxAbs: c.Stats.MaxAbs, Sparsity: c.Stats.Sparsity}
		}
		if d := c.Deep; d != nil {
			cr.Deep = &DeepStats{AttentionEntropy: d.AttentionEntropy, AttentionSparsity: d.AttentionSparsity,
				SoftmaxNs: d.SoftmaxNs, MLPKillRatio: d.MLPKillRatio, NormVarianceRatio: d.NormVarianceRatio,
				RouterEntropy: d.RouterEntropy, RouterLoadBalance: d.RouterLoadBalance}
		}
		if rt := c.Routing; rt != nil && rt.TopK > 0 {
			for p := range len(rt.Experts) / rt.TopK {
				row := RouteRecord{TokenIndex: tokIndex, Phase: cr.Phase, Layer: cr.Layer, Position: rt.Pos0 + p,
					Experts: rt.Experts[p*rt.TopK : (p+1)*rt.TopK], Weights: make([]float64, rt.TopK)}
				for r, w := range rt.Weights[p*rt.TopK : (p+1)*rt.TopK] {
					row.Weights[r] = float64(w)
				}
				rec.Routing = append(rec.Routing, row)
			}
		}
		rec.Components[i] = cr

		k := aggKey{cr.Phase, cr.Component, cr.Layer}
		a := aggs[k]
		if a == nil {
			a = &agg{m: LayerMetric{Phase: cr.Phase, Layer: cr.Layer, Component: cr.Component}}
			aggs[k] = a
			aggOrder = append(aggOrder, k)
		}
		a.m.Calls++
		a.m.TotalNs += c.End - c.Start
		if cr.EnergyJ != nil {
			a.energy += *cr.EnergyJ
			a.hasEnergy = true
			a.basis = worseBasis(a.basis, cr.Basis)
			a.source = plan.source
		}
		if cr.Stats != nil {
			a.maxAbs += cr.Stats.MaxAbs
			a.sparsity += cr.Stats.Sparsity
			a.statCalls++
		}
	}
	for i := range rec.Tokens {
		if tot := rec.Tokens[i].Energy.Total; tot != nil {
			rec.Tokens[i].OtherJ = tot.GrossJ - compSum[i]
		}
	}
	sort.SliceStable(rec.Routing, func(a, b int) bool {
		ra, rb := &rec.Routing[a], &rec.Routing[b]
		return ra.Position < rb.Position || ra.Position == rb.Position && ra.Layer < rb.Layer
	})
	for _, k := range aggOrder {
		a := aggs[k]
		a.m.Label = string(BasisUnavailable)
		if a.hasEnergy {
			v := a.energy
			a.m.EnergyJ = &v
			a.m.Label = Label(a.basis, a.source)
		}
		if a.statCalls > 0 {
			m, s := a.maxAbs/float64(a.statCalls), a.sparsity/float64(a.statCalls)
			a.m.MeanAbs, a.m.Sparsity = &m, &s
		}
		rec.Layers = append(rec.Layers, a.m)
	}
	if rec.Phases == nil {
		rec.Phases = []PhaseRecord{}
	}
	if rec.Layers == nil {
		rec.Layers = []LayerMetric{}
	}
}

// FeedFunc adapts a function to Feed, e.g. a power.Sampler subscription:
//
//	profiler.FeedFunc(func() (<-chan power.Sample, func()) {
//		sub := sampler.Subscribe(256)
//		return sub.C(), sub.Close
//	})
type FeedFunc func() (<-chan power.Sample, func())

// Subscribe implements Feed.
func (f FeedFunc) Subscribe() (<-chan power.Sample, func()) { return f() }

// labelCache shares the few distinct label strings among many components.
type labelCache map[Basis]string

func (c labelCache) get(b Basis, source string) string {
	l, ok := c[b]
	if !ok {
		l = Label(b, source)
		c[b] = l
	}
	return l
}

// chunks is an append-only list kept in fixed-size blocks, so that appending
// on the generating goroutine never copies the events already recorded (a
// deep run records ~10⁵ component calls).
type chunks[T any] struct {
	blocks [][]T
	n      int
}

const chunkLen = 4096

func (c *chunks[T]) add(v T) {
	if k := len(c.blocks); k == 0 || len(c.blocks[k-1]) == chunkLen {
		c.blocks = append(c.blocks, make([]T, 0, chunkLen))
	}
	k := len(c.blocks) - 1
	c.blocks[k] = append(c.blocks[k], v)
	c.n++
}

func (c *chunks[T]) flatten() []T {
	out := make([]T, 0, c.n)
	for _, b := range c.blocks {
		out = append(out, b...)
	}
	return out
}
