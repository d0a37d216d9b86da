package profiler

import (
	"context"
	"math"
	"testing"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/power"
)

const ms = int64(time.Millisecond)

func counterSample(src string, d power.Domain, t0, t1 int64, watts float64) power.Sample {
	return power.Sample{T0: t0, T1: t1, Source: src, Kind: power.KindCounter,
		Domains: map[power.Domain]power.Reading{d: {EnergyMJ: watts * float64(t1-t0) / 1e6, HasEnergy: true}}}
}

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+1e-12
}

func TestIntegrateSteppedTrace(t *testing.T) {
	// 10 W on [0,100) ms, 30 W on [100,200), 20 W on [200,300): hand integrals.
	samples := []power.Sample{
		counterSample("rapl", power.DomainCPU, 0, 100*ms, 10),
		counterSample("rapl", power.DomainCPU, 100*ms, 200*ms, 30),
		counterSample("rapl", power.DomainCPU, 200*ms, 300*ms, 20),
	}
	tl := buildTimeline(samples, nil, 2)
	cases := []struct {
		a, b        int64
		wantJ, uncJ float64
		basis       Basis
	}{
		{0, 300 * ms, 6.0, 0, BasisMeasured},
		{50 * ms, 150 * ms, 0.5 + 1.5, 0.5 + 1.5, BasisApportioned}, // two half-overlapped samples: E·max(f,1−f)
		{120 * ms, 130 * ms, 0.3, 3.0 * 0.9, BasisApportioned},
		{100 * ms, 300 * ms, 5.0, 0, BasisMeasured},
		{250 * ms, 300 * ms, 1.0, 1.0, BasisApportioned},
	}
	for _, c := range cases {
		e := tl.energy(c.a, c.b, nil)
		de, ok := e.Domains[power.DomainCPU]
		if !ok {
			t.Fatalf("[%d,%d]: cpu absent", c.a, c.b)
		}
		if !near(de.GrossJ, c.wantJ, 1e-9) || !near(de.UncertaintyJ, c.uncJ, 1e-9) || de.Basis != c.basis {
			t.Errorf("[%dms,%dms] = %.6f J ±%.6f %s, want %.6f J ±%.6f %s", c.a/ms, c.b/ms, de.GrossJ, de.UncertaintyJ, de.Basis, c.wantJ, c.uncJ, c.basis)
		}
		if de.Coverage != 1 {
			t.Errorf("[%d,%d] coverage %v, want 1", c.a, c.b, de.Coverage)
		}
	}
	// Parts add up: ten 30 ms windows tile [0,300).
	var sum float64
	for a := int64(0); a < 300*ms; a += 30 * ms {
		sum += tl.energy(a, a+30*ms, nil).Domains[power.DomainCPU].GrossJ
	}
	if !near(sum, 6.0, 1e-9) {
		t.Errorf("tiles sum to %v J, want 6", sum)
	}
}

func TestIntegrateGapsAndEdges(t *testing.T) {
	// 10 W on [0,100), nothing on [100,200), 20 W on [200,300).
	samples := []power.Sample{
		counterSample("rapl", power.DomainCPU, 0, 100*ms, 10),
		counterSample("rapl", power.DomainCPU, 200*ms, 300*ms, 20),
	}
	tl := buildTimeline(samples, nil, 2)
	// The gap holds the earlier power (10 W): 1 + 1 + 2 J, uncertain by 0.1 s × |20−10| W.
	de := tl.energy(0, 300*ms, nil).Domains[power.DomainCPU]
	if !near(de.GrossJ, 4, 1e-9) || !near(de.UncertaintyJ, 1, 1e-9) || de.Coverage != 1 {
		t.Errorf("across gap: %+v, want 4 J ±1 J coverage 1", de)
	}
	if de.Basis != BasisApportioned {
		t.Errorf("a window that is one third held must be apportioned, got %s", de.Basis)
	}
	// Past the last sample nothing is counted and coverage says so.
	de = tl.energy(250*ms, 400*ms, nil).Domains[power.DomainCPU]
	if !near(de.GrossJ, 1, 1e-9) || !near(de.Coverage, 50.0/150, 1e-9) {
		t.Errorf("past the end: %+v, want 1 J coverage 1/3", de)
	}
	// A window no sample touches has the domain absent, not 0.
	if e := tl.energy(500*ms, 600*ms, nil); len(e.Domains) != 0 || e.Total != nil {
		t.Errorf("uncovered window: %+v, want no domains and no total", e)
	}
}

func TestTotalDoesNotDoubleCount(t *testing.T) {
	mk := func(src string, kind power.Kind, w map[power.Domain]float64) power.Sample {
		s := power.Sample{T0: 0, T1: 100 * ms, Source: src, Kind: kind, Domains: map[power.Domain]power.Reading{}}
		for d, v := range w {
			s.Domains[d] = power.Reading{PowerMW: v * 1e3, HasPower: true}
		}
		return s
	}
	// RAPL: package 20 W ⊇ cpu 15 W, dram 3 W apart; NVML gpu0 100 W apart;
	// an estimate of cpu must lose to the counter.
	samples := []power.Sample{
		mk("rapl", power.KindCounter, map[power.Domain]float64{power.DomainPackage: 20, power.DomainCPU: 20, power.DomainCore: 12, power.DomainDRAM: 3}),
		mk("nvml", power.KindCounter, map[power.Domain]float64{"gpu0": 100}),
		mk("cpu-load", power.KindEstimate, map[power.Domain]float64{power.DomainCPU: 50}),
	}
	e := buildTimeline(samples, nil, 2).energy(0, 100*ms, nil)
	if got := e.Total.GrossJ; !near(got, (20+3+100)*0.1, 1e-9) {
		t.Errorf("total = %v J, want 12.3 (package + dram + gpu0)", got)
	}
	if e.Domains[power.DomainCPU].Source != "rapl" {
		t.Errorf("cpu source = %q, want the counter (rapl) over the estimate", e.Domains[power.DomainCPU].Source)
	}
	// powermetrics: combined includes cpu, gpu and ane of the same source.
	pm := []power.Sample{mk("powermetrics", power.KindSampling, map[power.Domain]float64{power.DomainPackage: 9, power.DomainCPU: 4, power.DomainGPU: 4, power.DomainANE: 1})}
	if got := buildTimeline(pm, nil, 2).energy(0, 100*ms, nil).Total.GrossJ; !near(got, 0.9, 1e-9) {
		t.Errorf("powermetrics total = %v J, want 0.9 (combined only)", got)
	}
	// Without a package reading the domains add up, core inside cpu.
	noPkg := []power.Sample{mk("x", power.KindCounter, map[power.Domain]float64{power.DomainCPU: 10, power.DomainCore: 6, power.DomainGPU: 5})}
	if got := buildTimeline(noPkg, nil, 2).energy(0, 100*ms, nil).Total.GrossJ; !near(got, 1.5, 1e-9) {
		t.Errorf("cpu+core+gpu total = %v J, want 1.5 (core is inside cpu)", got)
	}
	// An estimate makes the total estimated.
	est := []power.Sample{mk("cpu-load", power.KindEstimate, map[power.Domain]float64{power.DomainCPU: 7})}
	tot := buildTimeline(est, nil, 2).energy(0, 100*ms, nil).Total
	if tot.Basis != BasisEstimated || tot.Label != "estimated cpu-load" {
		t.Errorf("estimate total label = %q, want estimated cpu-load", tot.Label)
	}
}

// fakeRun drives a run with a synthetic engine trace at explicit times.
type traceSpec struct {
	base                   int64
	prompt, tokens, layers int
	tokenNs, compNs        int64
}

func drive(r *Run, s traceSpec) (runA, runB int64) {
	t := s.base
	phase := func(p engine.Phase, d int64) {
		r.PhaseStart(p, t)
		t += d
		r.PhaseEnd(p, t)
	}
	runA = t
	phase(engine.PhasePreInference, 7*ms)
	// Like the engine: the prefill pass produces the first token, which is
	// reported once decode has begun, with the prefill pass's times.
	r.PhaseStart(engine.PhasePrefill, t)
	prefillStart := t
	for l := 0; l < s.layers; l++ {
		for _, c := range engine.LayerComponents() {
			r.Component(engine.ComponentEvent{Phase: engine.PhasePrefill, Layer: l, Component: c, Start: t, End: t + 3*s.compNs, Positions: s.prompt})
			t += 3 * s.compNs
		}
	}
	t += s.tokenNs // sampling the first token
	prefillEnd := t
	r.PhaseEnd(engine.PhasePrefill, t)
	t += ms / 10
	r.PhaseStart(engine.PhaseDecode, t)
	r.Token(engine.TokenEvent{Index: 0, ID: 100, Piece: "x", Start: prefillStart, End: prefillEnd})
	for i := 1; i < s.tokens; i++ {
		t += ms / 10 // callback gap between tokens
		start := t
		for l := 0; l < s.layers; l++ {
			for _, c := range engine.LayerComponents() {
				x := 0.5
				r.Component(engine.ComponentEvent{Phase: engine.PhaseDecode, Layer: l, Component: c, Start: t, End: t + s.compNs, Positions: 1,
					Stats: &engine.ActivationStats{Mean: 0.1, Std: 1, MaxAbs: 3, Sparsity: 0.01}, Deep: &engine.DeepStats{AttentionEntropy: &x}})
				t += s.compNs
			}
		}
		t += s.tokenNs // sampling, outside any component
		r.Token(engine.TokenEvent{Index: i, ID: 100 + i, Piece: "x", Start: start, End: t})
	}
	t += ms / 10
	r.PhaseEnd(engine.PhaseDecode, t)
	phase(engine.PhasePostInference, 3*ms)
	return runA, t
}

func TestConstantPowerEveryWindow(t *testing.T) {
	// A replayed constant trace: cpu 12 W counter, gpu 30 W sampled power, at
	// an irregular ~100 ms interval that does not line up with any window.
	base := clock.Now() + 50*ms
	var samples []power.Sample
	for t0, k := base-2000*ms, 0; t0 < base+20000*ms; k++ {
		dt := 100*ms + int64(k%7)*3*ms
		samples = append(samples, counterSample("rapl", power.DomainCPU, t0, t0+dt, 12))
		samples = append(samples, power.Sample{T0: t0 + 11*ms, T1: t0 + 11*ms + dt, Source: "nvml", Kind: power.KindSampling,
			Domains: map[power.Domain]power.Reading{"gpu0": {PowerMW: 30000, HasPower: true}}})
		t0 += dt
	}
	p := New(Options{Idle: -1, Host: &Host{OS: "test"}})
	run, err := p.Start(context.Background(), Meta{ModelName: "m", Prompt: "p", Settings: Settings{Depth: "deep"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		run.AddSample(s)
	}
	runA, runB := drive(run, traceSpec{base: base, prompt: 9, tokens: 40, layers: 3, tokenNs: 2 * ms, compNs: ms / 2})
	sum, err := run.Finish()
	if err != nil {
		t.Fatal(err)
	}
	rec := run.Record()
	const P = 42.0
	check := func(what string, e Energy, a, b int64) {
		t.Helper()
		got, ok := e.TotalJ()
		if !ok {
			t.Fatalf("%s: no total", what)
		}
		if want := P * float64(b-a) / 1e9; !near(got, want, 0.005) {
			t.Errorf("%s: %.6f J, want P×duration = %.6f J", what, got, want)
		}
	}
	check("run", sum.Energy, runA, runB)
	if !near(*sum.DurationS.Value, float64(runB-runA)/1e9, 1e-12) {
		t.Errorf("duration %v, want %v", *sum.DurationS.Value, float64(runB-runA)/1e9)
	}
	var phaseSum float64
	for _, ph := range rec.Phases {
		check("phase "+ph.Phase, ph.Energy, ph.WindowStartNs, ph.WindowEndNs)
		v, _ := ph.Energy.TotalJ()
		phaseSum += v
	}
	total, _ := sum.Energy.TotalJ()
	if !near(phaseSum, total, 0.005) {
		t.Errorf("phases add to %v J, run is %v J", phaseSum, total)
	}
	var decodeJ float64
	for _, ph := range rec.Phases {
		if ph.Phase == "decode" {
			decodeJ, _ = ph.Energy.TotalJ()
		}
	}
	var tokSum, prefillTokJ float64
	compByToken := map[int]float64{}
	for _, c := range rec.Components {
		if c.EnergyJ == nil {
			t.Fatalf("component %+v has no energy", c)
		}
		if want := P * float64(c.EndNs-c.StartNs) / 1e9; !near(*c.EnergyJ, want, 0.005) {
			t.Errorf("component %s L%d tok %d: %v J, want %v", c.Component, c.Layer, c.TokenIndex, *c.EnergyJ, want)
		}
		if c.Basis != BasisApportioned {
			t.Errorf("a sub-ms component must be apportioned, got %s", c.Basis)
		}
		compByToken[c.TokenIndex] += *c.EnergyJ
	}
	for _, tok := range rec.Tokens {
		check("token", tok.Energy, tok.WindowStartNs, tok.WindowEndNs)
		v, _ := tok.Energy.TotalJ()
		if tok.Phase == "decode" {
			tokSum += v
		} else {
			prefillTokJ += v
		}
		if parts := compByToken[tok.Index] + tok.OtherJ; !near(parts, v, 0.005) {
			t.Errorf("token %d: components+other = %v J, token = %v J", tok.Index, parts, v)
		}
		if tok.OtherJ <= 0 {
			t.Errorf("token %d: sampling time outside components should leave other > 0, got %v", tok.Index, tok.OtherJ)
		}
	}
	if !near(tokSum, decodeJ, 0.005) {
		t.Errorf("tokens add to %v J, decode phase is %v J", tokSum, decodeJ)
	}
	if sum.InputTokens != 9 || sum.OutputTokens != 40 || sum.DecodeTokens != 39 {
		t.Errorf("tokens in/out/decode = %d/%d/%d, want 9/40/39", sum.InputTokens, sum.OutputTokens, sum.DecodeTokens)
	}
	if rec.Tokens[0].Phase != "prefill" || rec.Tokens[1].Phase != "decode" {
		t.Errorf("token phases %s, %s: want the first from prefill", rec.Tokens[0].Phase, rec.Tokens[1].Phase)
	}
	if got := *sum.JoulesPerOutputToken.Value; !near(got, decodeJ/39, 1e-9) {
		t.Errorf("J/output token = %v, want %v", got, decodeJ/39)
	}
	if got := *sum.AvgPowerW["gpu0"].Value; !near(got, 30, 0.005) {
		t.Errorf("avg gpu0 power %v W, want 30", got)
	}
	if got := *sum.PeakPowerW[power.DomainCPU].Value; !near(got, 12, 1e-9) {
		t.Errorf("peak cpu %v W, want 12", got)
	}
	if _, ok := sum.AvgPowerW[power.DomainANE]; ok {
		t.Error("a domain no source covers must be absent")
	}
	if sum.Energy.Total.NetJ != nil {
		t.Error("without an idle baseline there is no net energy")
	}
	if len(rec.Layers) != 2*3*len(engine.LayerComponents()) {
		t.Errorf("layer metrics: %d rows, want %d", len(rec.Layers), 2*3*len(engine.LayerComponents()))
	}
	if _, err := run.Finish(); err != ErrFinished {
		t.Errorf("second Finish: %v, want ErrFinished", err)
	}
}

func TestIdleBaselineNetEnergy(t *testing.T) {
	t0 := clock.Now()
	switchAt := t0 + 400*ms
	p := New(Options{Idle: 100 * time.Millisecond, Host: &Host{OS: "test"}})
	feed := make(chan power.Sample, 1000)
	for a := t0 - time.Second.Nanoseconds(); a < t0+20*time.Second.Nanoseconds(); a += 50 * ms {
		w := 5.0
		if a >= switchAt {
			w = 10
		}
		feed <- counterSample("ioreport", power.DomainCPU, a, a+50*ms, w)
	}
	close(feed)
	p.opts.Power = FeedFunc(func() (<-chan power.Sample, func()) { return feed, func() {} })
	run, err := p.Start(context.Background(), Meta{ModelName: "m", Settings: Settings{Depth: "module", PriceUSDPerKWh: 0.3, CO2GPerKWh: 200, CO2Preset: "california"}})
	if err != nil {
		t.Fatal(err)
	}
	runA, runB := drive(run, traceSpec{base: switchAt + 50*ms, prompt: 4, tokens: 20, layers: 2, tokenNs: ms, compNs: ms})
	sum, err := run.Finish()
	if err != nil {
		t.Fatal(err)
	}
	idle := *sum.IdlePowerW[power.DomainCPU].Value
	if !near(idle, 5, 1e-9) {
		t.Fatalf("idle power = %v W, want 5", idle)
	}
	dur := float64(runB-runA) / 1e9
	tot := sum.Energy.Total
	if !near(tot.GrossJ, 10*dur, 0.005) || tot.NetJ == nil || !near(*tot.NetJ, 5*dur, 0.005) {
		t.Errorf("gross %v net %v, want %v and %v", tot.GrossJ, tot.NetJ, 10*dur, 5*dur)
	}
	if !near(*sum.CostUSD.Value, 10*dur/3.6e6*0.3, 1e-9) || !near(*sum.CO2Grams.Value, 10*dur/3.6e6*200, 1e-9) {
		t.Errorf("cost %v CO2 %v", *sum.CostUSD.Value, *sum.CO2Grams.Value)
	}
	// Per million output tokens: 20 tokens, so ×50 000.
	if !near(*sum.CostUSDPerMTokens.Value, 10*dur/3.6e6*0.3*1e6/20, 1e-9) || !near(*sum.CO2GPerMTokens.Value, 10*dur/3.6e6*200*1e6/20, 1e-6) {
		t.Errorf("per million tokens: cost %v CO2 %v", *sum.CostUSDPerMTokens.Value, *sum.CO2GPerMTokens.Value)
	}
	if !near(*sum.EnergyDelayProduct.Value, 10*dur*dur, 0.01) {
		t.Errorf("EDP %v, want %v", *sum.EnergyDelayProduct.Value, 10*dur*dur)
	}
	if sum.JoulesPerInputToken.Value == nil || sum.OutputInputRatio.Value == nil {
		t.Fatal("J/input token and ratio must be there")
	}
	ratio := *sum.JoulesPerOutputToken.Value / *sum.JoulesPerInputToken.Value
	if !near(*sum.OutputInputRatio.Value, ratio, 1e-12) {
		t.Errorf("ratio %v, want %v", *sum.OutputInputRatio.Value, ratio)
	}
	if len(sum.Sources) != 1 || sum.Sources[0].Name != "ioreport" || sum.Sources[0].Kind != power.KindCounter {
		t.Errorf("sources = %+v", sum.Sources)
	}
	if sum.EnergyPerMParams.Value != nil {
		t.Error("without architecture facts J/Mparam must be unavailable")
	}
}

func TestNoPowerIsUnavailableNotZero(t *testing.T) {
	run, err := New(Options{Idle: -1, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	drive(run, traceSpec{base: clock.Now(), prompt: 2, tokens: 3, layers: 1, tokenNs: ms, compNs: ms})
	sum, err := run.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalEnergyJ.Value != nil || sum.TotalEnergyJ.Label != "unavailable" || len(sum.Energy.Domains) != 0 {
		t.Errorf("no power: total %v, domains %v", sum.TotalEnergyJ, sum.Energy.Domains)
	}
	if sum.DecodeTokensPerSecond.Value == nil {
		t.Error("tok/s comes from the clock and must be there without power")
	}
}

func TestTotalJMatchesEnergyTotal(t *testing.T) {
	var samples []power.Sample
	for a, k := int64(0), 0; a < 2000*ms; k++ {
		dt := 90*ms + int64(k%5)*7*ms
		samples = append(samples, power.Sample{T0: a, T1: a + dt, Source: "rapl", Kind: power.KindCounter, Domains: map[power.Domain]power.Reading{
			power.DomainPackage: {EnergyMJ: float64(10+k%3) * float64(dt) / 1e6, HasEnergy: true},
			power.DomainCPU:     {EnergyMJ: float64(10+k%3) * float64(dt) / 1e6, HasEnergy: true},
			power.DomainCore:    {EnergyMJ: float64(6+k%2) * float64(dt) / 1e6, HasEnergy: true},
			power.DomainDRAM:    {EnergyMJ: 2 * float64(dt) / 1e6, HasEnergy: true}}})
		samples = append(samples, power.Sample{T0: a + 5*ms, T1: a + 5*ms + dt, Source: "nvml", Kind: power.KindSampling,
			Domains: map[power.Domain]power.Reading{"gpu0": {PowerMW: float64(50000 + 1000*(k%4)), HasPower: true}}})
		a += dt
	}
	tl := buildTimeline(samples, DefaultResolutionMJ, 2)
	p := tl.plan()
	for a := 10 * ms; a < 1800*ms; a += 37 * ms {
		for _, n := range []int64{ms / 3, 4 * ms, 150 * ms, 400 * ms} {
			want := tl.energy(a, a+n, nil).Total
			got, unc, basis, ok := tl.totalJ(p, a, a+n)
			if !ok || !near(got, want.GrossJ, 1e-12) || !near(unc, want.UncertaintyJ, 1e-12) || basis != want.Basis || Label(basis, p.source) != want.Label {
				t.Fatalf("[%d,+%d]: totalJ %v ±%v %s, energy().Total %+v", a, n, got, unc, basis, *want)
			}
		}
	}
}

// The net energy is "within idle noise" when it is at most its error bound:
// the machine's idle power wanders between 4 and 6 W from sample to sample,
// so a run drawing 0.1 W more than idle on average is not measurably above
// it, one drawing 5 W more is, and one below a steady idle is too (a
// negative net is never a finding).
func TestNetEnergyWithinIdleNoise(t *testing.T) {
	cases := []struct {
		name         string
		idle, run    func(i int) float64
		within       bool
		noiseAtLeast float64 // W × run duration
	}{
		{"wandering idle, run 0.1 W above it", func(i int) float64 { return 4 + 2*float64(i%2) }, func(i int) float64 { return 4.1 + 2*float64(i%2) }, true, 0.5},
		{"wandering idle, run 5 W above it", func(i int) float64 { return 4 + 2*float64(i%2) }, func(i int) float64 { return 9 + 2*float64(i%2) }, false, 0.5},
		{"steady idle, run below it", func(int) float64 { return 5 }, func(int) float64 { return 4.9 }, true, 0},
		{"steady idle, run above it", func(int) float64 { return 5 }, func(int) float64 { return 5.5 }, false, 0},
	}
	for _, c := range cases {
		t0 := clock.Now()
		switchAt := t0 + 600*ms
		p := New(Options{Idle: 400 * time.Millisecond, Host: &Host{OS: "test"}})
		feed := make(chan power.Sample, 1000)
		i := 0
		for a := t0 - time.Second.Nanoseconds(); a < t0+20*time.Second.Nanoseconds(); a += 50 * ms {
			w := c.idle(i)
			if a >= switchAt {
				w = c.run(i)
			}
			feed <- counterSample("rapl", power.DomainCPU, a, a+50*ms, w)
			i++
		}
		close(feed)
		p.opts.Power = FeedFunc(func() (<-chan power.Sample, func()) { return feed, func() {} })
		run, err := p.Start(context.Background(), Meta{ModelName: "m", Settings: Settings{Depth: "module"}})
		if err != nil {
			t.Fatal(err)
		}
		runA, runB := drive(run, traceSpec{base: switchAt + 50*ms, prompt: 4, tokens: 40, layers: 2, tokenNs: ms, compNs: ms})
		sum, err := run.Finish()
		if err != nil {
			t.Fatal(err)
		}
		dur := float64(runB-runA) / 1e9
		net, _ := sum.NetEnergyJ.Get()
		noise, ok := sum.NetNoiseJ.Get()
		if !ok || noise < sum.Energy.Total.UncertaintyJ || noise < c.noiseAtLeast*dur {
			t.Errorf("%s: noise %v J (uncertainty %v J), want at least %v J", c.name, noise, sum.Energy.Total.UncertaintyJ, c.noiseAtLeast*dur)
		}
		if sum.NetWithinNoise != c.within {
			t.Errorf("%s: net %v J, noise %v J: within noise %v, want %v", c.name, net, noise, sum.NetWithinNoise, c.within)
		}
	}
}
