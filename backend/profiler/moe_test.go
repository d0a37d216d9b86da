package profiler

import (
	"context"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/power"
)

// An MoE run: expert calls get energy like any component, each router
// decision is kept with the token whose pass made it, and energy per active
// million parameters divides by the active count.
func TestMoEExpertEnergyAndRouting(t *testing.T) {
	base := clock.Now() + 50*ms
	p := New(Options{Idle: -1, Host: &Host{OS: "test"}})
	run, err := p.Start(context.Background(), Meta{ModelName: "moe", Prompt: "p", Settings: Settings{Depth: "module"},
		Arch: &Architecture{ParamsTotal: 100_000_000, ParamsActive: 25_000_000, Experts: 4, TopK: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for t0 := base - 1000*ms; t0 < base+5000*ms; t0 += 100 * ms {
		run.AddSample(counterSample("rapl", power.DomainPackage, t0, t0+100*ms, 20))
	}
	tm := base
	span := func(d int64) (int64, int64) { tm += d; return tm - d, tm }
	moeLayer := func(phase engine.Phase, pos0, n int) {
		rt := &engine.Routing{Pos0: pos0, TopK: 2}
		for p := range n {
			rt.Experts = append(rt.Experts, (pos0+p)%4, (pos0+p+1)%4)
			rt.Weights = append(rt.Weights, 0.6, 0.4)
		}
		a, b := span(ms)
		run.Component(engine.ComponentEvent{Phase: phase, Layer: 0, Component: engine.CompRouter, Start: a, End: b, Positions: n, Routing: rt})
		for ex := range 4 {
			a, b := span(int64(ex+1) * ms)
			run.Component(engine.ComponentEvent{Phase: phase, Layer: 0, Component: engine.ExpertComponent(ex), Start: a, End: b, Positions: 1})
		}
	}
	run.PhaseStart(engine.PhasePrefill, tm)
	pre := tm
	moeLayer(engine.PhasePrefill, 0, 3)
	run.PhaseEnd(engine.PhasePrefill, tm)
	run.PhaseStart(engine.PhaseDecode, tm)
	run.Token(engine.TokenEvent{Index: 0, ID: 1, Start: pre, End: tm})
	for i := 1; i < 3; i++ {
		start := tm
		moeLayer(engine.PhaseDecode, 2+i, 1)
		tm += ms
		run.Token(engine.TokenEvent{Index: i, ID: 1 + i, Start: start, End: tm})
	}
	run.PhaseEnd(engine.PhaseDecode, tm)
	sum, err := run.Finish()
	if err != nil {
		t.Fatal(err)
	}
	rec := run.Record()

	for _, c := range rec.Components {
		if ex, ok := engine.ExpertOf(engine.Component(c.Component)); ok {
			if want := 20 * float64(ex+1) * 1e-3; c.EnergyJ == nil || !near(*c.EnergyJ, want, 0.005) {
				t.Errorf("expert %d: %v J, want %v (20 W × %d ms)", ex, c.EnergyJ, want, ex+1)
			}
		}
	}
	// 3 prompt positions routed by the prefill pass (which makes token 0),
	// then positions 3 and 4 by the passes of tokens 1 and 2.
	wantTok := []int{0, 0, 0, 1, 2} // the prefill pass is token 0's
	if len(rec.Routing) != 5 {
		t.Fatalf("%d routing rows, want 5: %+v", len(rec.Routing), rec.Routing)
	}
	for i, r := range rec.Routing {
		if r.Position != i || r.TokenIndex != wantTok[i] || r.Experts[0] != i%4 || !near(r.Weights[1], 0.4, 1e-6) {
			t.Errorf("routing row %d: %+v", i, r)
		}
	}
	total := *sum.TotalEnergyJ.Value
	if !near(*sum.EnergyPerMParams.Value, total/100, 1e-9) || !near(*sum.EnergyPerActiveMParams.Value, total/25, 1e-9) {
		t.Errorf("J/Mparam %v, J/active Mparam %v; total %v J over 100M total, 25M active", *sum.EnergyPerMParams.Value, *sum.EnergyPerActiveMParams.Value, total)
	}
}
