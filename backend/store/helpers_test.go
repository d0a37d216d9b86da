package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/store/pgtest"
)

const ms = int64(time.Millisecond)

type spec struct {
	model, prompt string
	tags          []string
	tokens        int
	layers        int
	depth         string
	watts         float64
	experts       int // > 0: an MoE model routing each position to 2 of them
}

// makeRecord profiles a synthetic generation against a constant replayed
// power trace and returns the finished record (nothing stored).
func makeRecord(tb testing.TB, s spec, rec profiler.Recorder) *profiler.Record {
	tb.Helper()
	r, err := makeRecordErr(s, rec)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func makeRecordErr(s spec, rec profiler.Recorder) (*profiler.Record, error) {
	run, err := startRun(s, rec)
	if err != nil {
		return nil, err
	}
	generate(run, s)
	if _, err := run.Finish(); err != nil {
		return nil, err
	}
	return run.Record(), nil
}

func startRun(s spec, rec profiler.Recorder) (*profiler.Run, error) {
	run, err := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test", CPU: "cpu"}, Recorder: rec}).
		Start(context.Background(), profiler.Meta{ModelName: s.model, Prompt: s.prompt, Tags: s.tags,
			Settings: profiler.Settings{Depth: s.depth, MaxTokens: s.tokens},
			Arch:     &profiler.Architecture{Layers: s.layers, ParamsTotal: 15_000_000, AttentionKind: "GQA"}})
	if err != nil {
		return nil, err
	}
	feed(run, s.watts)
	return run, nil
}

func feed(run *profiler.Run, watts float64) {
	now := clock.Now()
	for t := now - 500*ms; t < now+10_000*ms; t += 100 * ms {
		run.AddSample(power.Sample{T0: t, T1: t + 100*ms, Source: "rapl", Kind: power.KindCounter,
			Domains: map[power.Domain]power.Reading{
				power.DomainPackage: {EnergyMJ: watts * 100, HasEnergy: true},
				power.DomainDRAM:    {EnergyMJ: 2 * 100, HasEnergy: true},
			}})
	}
}

// generate replays an engine trace with synthetic timestamps (1 µs per
// component, so even long runs fit in the fed power window).
func generate(r *profiler.Run, s spec) {
	t := clock.Now()
	step := func(d int64) int64 { t += d; return t }
	span := func(d int64) (int64, int64) { a := t; return a, step(d) }
	r.PhaseStart(engine.PhasePreInference, t)
	step(ms)
	r.PhaseEnd(engine.PhasePreInference, t)
	r.PhaseStart(engine.PhasePrefill, t)
	entropy, kill := 1.5, 0.4
	var moe func(phase engine.Phase, layer, positions int)
	comps := func(phase engine.Phase, positions int) {
		a, b := span(1000)
		r.Component(engine.ComponentEvent{Phase: phase, Layer: -1, Component: engine.CompEmbedding, Start: a, End: b, Positions: positions})
		for l := 0; l < s.layers; l++ {
			for _, c := range engine.LayerComponents() {
				if s.experts > 0 && c == engine.CompGateProj { // the MoE block replaces the MLP
					moe(phase, l, positions)
					break
				}
				a, b := span(1000)
				ev := engine.ComponentEvent{Phase: phase, Layer: l, Component: c, Start: a, End: b, Positions: positions,
					Stats: &engine.ActivationStats{Mean: 0.01, Std: 1, MaxAbs: 4, Sparsity: 0.02}}
				if s.depth == "deep" && c == engine.CompAttention {
					ev.Deep = &engine.DeepStats{AttentionEntropy: &entropy}
				}
				if s.depth == "deep" && c == engine.CompGateProj {
					ev.Deep = &engine.DeepStats{MLPKillRatio: &kill}
				}
				r.Component(ev)
			}
		}
		a, b = span(1000)
		r.Component(engine.ComponentEvent{Phase: phase, Layer: -1, Component: engine.CompFinalNorm, Start: a, End: b, Positions: positions})
		a, b = span(1000)
		r.Component(engine.ComponentEvent{Phase: phase, Layer: -1, Component: engine.CompLMHead, Start: a, End: b, Positions: positions})
	}
	pos := 0 // sequence position of the next pass
	moe = func(phase engine.Phase, layer, positions int) {
		rt := &engine.Routing{Pos0: pos, TopK: 2}
		for p := range positions {
			a := (p + layer) % s.experts
			rt.Experts = append(rt.Experts, a, (a+1)%s.experts)
			rt.Weights = append(rt.Weights, 0.75, 0.25)
		}
		ent, bal := 1.2, 1.1
		a, b := span(1000)
		ev := engine.ComponentEvent{Phase: phase, Layer: layer, Component: engine.CompRouter, Start: a, End: b, Positions: positions, Routing: rt,
			Stats: &engine.ActivationStats{Mean: 0.25, Std: 0.1, MaxAbs: 0.9}}
		if s.depth == "deep" {
			ev.Deep = &engine.DeepStats{RouterEntropy: &ent, RouterLoadBalance: &bal}
		}
		r.Component(ev)
		for ex := range s.experts {
			a, b := span(1000)
			r.Component(engine.ComponentEvent{Phase: phase, Layer: layer, Component: engine.ExpertComponent(ex), Start: a, End: b, Positions: 1,
				Stats: &engine.ActivationStats{Mean: 0.01, Std: 1, MaxAbs: 4}})
		}
	}
	comps(engine.PhasePrefill, 5)
	pos += 5
	r.PhaseEnd(engine.PhasePrefill, t)
	r.PhaseStart(engine.PhaseDecode, t)
	for i := 0; i < s.tokens; i++ {
		start := t
		comps(engine.PhaseDecode, 1)
		pos++
		step(20_000)
		r.Token(engine.TokenEvent{Index: i, ID: 1000 + i, Piece: "tok", Start: start, End: t})
	}
	r.PhaseEnd(engine.PhaseDecode, t)
	r.PhaseStart(engine.PhasePostInference, t)
	step(ms)
	r.PhaseEnd(engine.PhasePostInference, t)
}

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(tb.TempDir() + "/profiling.db")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// backend is one of the store's back ends; every store test runs against
// each (PostgreSQL where ENERGYPROFILER_TEST_PG names a server; see pgtest).
type backend struct {
	name string
	// fresh returns the location of a new, empty database.
	fresh func(tb testing.TB) string
}

func (b backend) postgres() bool { return b.name == "postgres" }

func backends() []backend {
	return []backend{
		{"sqlite", func(tb testing.TB) string { return tb.TempDir() + "/profiling.db" }},
		{"postgres", func(tb testing.TB) string { return pgtest.URL(tb) }},
	}
}

// eachBackend runs fn as a subtest against SQLite and PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// open opens a store on a fresh database, closed when tb ends.
func (b backend) open(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(b.fresh(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// rawDB opens a database with plain database/sql in its dialect, for tests
// that change rows behind the store's back.
func rawDB(tb testing.TB, location string) *db {
	tb.Helper()
	driver, d := "sqlite", sqliteDialect
	if IsPostgres(location) {
		driver, d = "pgx", postgresDialect
	}
	raw, err := sql.Open(driver, location)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return &db{DB: raw, d: d}
}
