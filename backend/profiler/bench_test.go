package profiler

import (
	"context"
	"testing"

	"energyprofiler/backend/engine"
)

// BenchmarkTracerComponent is the cost the profiler adds to each traced
// component call on the generating goroutine (live stream on, nobody reading).
func BenchmarkTracerComponent(b *testing.B) {
	live := make(chan Event, 64)
	run, err := New(Options{Idle: -1, Live: live, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m"})
	if err != nil {
		b.Fatal(err)
	}
	stats := &engine.ActivationStats{Mean: 0.1, Std: 1, MaxAbs: 2, Sparsity: 0.01}
	comps := engine.LayerComponents()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t := int64(i) * 1000
		run.Component(engine.ComponentEvent{Phase: engine.PhaseDecode, Layer: i % 12, Component: comps[i%len(comps)], Start: t, End: t + 900, Positions: 1, Stats: stats})
	}
}

// BenchmarkTracerToken is the cost per generated token (live token and
// heatmap events included) for a 12-layer model.
func BenchmarkTracerToken(b *testing.B) {
	live := make(chan Event, 1<<20)
	run, err := New(Options{Idle: -1, Live: live, Host: &Host{}}).Start(context.Background(), Meta{ModelName: "m"})
	if err != nil {
		b.Fatal(err)
	}
	for l := 0; l < 12; l++ {
		run.Component(engine.ComponentEvent{Phase: engine.PhaseDecode, Layer: l, Component: engine.CompQProj, Start: 0, End: 1})
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		run.Token(engine.TokenEvent{Index: i, ID: 1, Piece: "x", Start: int64(i) * 1e6, End: int64(i)*1e6 + 9e5})
		if len(live) > 1<<19 {
			for len(live) > 0 {
				<-live
			}
		}
	}
}
