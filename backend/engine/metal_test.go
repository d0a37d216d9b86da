package engine

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
	"energyprofiler/backend/model"
)

// TestMetalBackendOnFakeDevice runs every architecture through the Metal
// backend on metaltest's fake device (each kernel's semantics in Go) and
// compares it with the CPU backend: the same greedy tokens, logits within
// float32 reordering, one command buffer per decode token (plus one per MoE
// layer, whose router the CPU reads), and trace events whose windows come
// from the GPU clock mapped onto clock.Now().
func TestMetalBackendOnFakeDevice(t *testing.T) {
	checkMetalArchitectures(t, func(*testing.T) metal.Device { return metaltest.New() })
}

// TestMetalBackendOnMSL is TestMetalBackendOnFakeDevice with the MSL
// source itself running the kernels (metaltest.NewMSL).
func TestMetalBackendOnMSL(t *testing.T) {
	checkMetalArchitectures(t, mslDevice(t))
}

func checkMetalArchitectures(t *testing.T, newDevice func(*testing.T) metal.Device) {
	ctx := context.Background()
	prompt := []int{1, 5, 9, 2, 7, 3, 8, 4, 6, 10, 11}
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			tm := writeTiny(t, v.spec)
			cpu := tm.open(t, Options{Threads: 1, PrefillChunk: 4})
			dev := newDevice(t).(*metaltest.Fake)
			be, err := metal.New(dev)
			if err != nil {
				t.Fatal(err)
			}
			gpu := tm.open(t, Options{Backend: be, PrefillChunk: 4})
			req := Request{PromptIDs: prompt, MaxTokens: 5, Sampling: Sampling{Greedy: true}, IgnoreEOS: true}

			// Logits after the prompt (three chunks of at most 4).
			for _, e := range []*Engine{cpu, gpu} {
				e.pos = 0
				if err := e.forward(ctx, prompt); err != nil {
					t.Fatal(err)
				}
			}
			var scale, diff float64
			for i := range cpu.logits {
				scale = max(scale, math.Abs(float64(cpu.logits[i])))
				diff = max(diff, math.Abs(float64(cpu.logits[i]-gpu.logits[i])))
			}
			if diff > 1e-4*scale {
				t.Errorf("prefill logits differ by %.3g (scale %.3g)", diff, scale)
			}

			want, err := cpu.Generate(ctx, req, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			runs := dev.Runs
			tr := &collectTracer{depth: DepthDeep}
			t0 := clock.Now()
			got, err := gpu.Generate(ctx, req, tr, nil)
			t1 := clock.Now()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.GeneratedIDs, want.GeneratedIDs) {
				t.Errorf("metal generated %v, cpu %v", got.GeneratedIDs, want.GeneratedIDs)
			}

			// Command buffers: 3 prefill chunks and 4 decode passes, each
			// one batch, plus one per MoE layer per pass.
			moeLayers := 0
			for _, l := range gpu.layers {
				if l.moe != nil {
					moeLayers++
				}
			}
			if n, want := dev.Runs-runs, (3+4)*(1+moeLayers); n != want {
				t.Errorf("%d command buffers for 3 prefill chunks and 4 decode steps, want %d", n, want)
			}

			// Trace: the CPU's events, with GPU windows inside the run.
			trCPU := &collectTracer{depth: DepthDeep}
			if _, err := cpu.Generate(ctx, req, trCPU, nil); err != nil {
				t.Fatal(err)
			}
			if len(tr.components) != len(trCPU.components) {
				t.Fatalf("%d component events, cpu %d", len(tr.components), len(trCPU.components))
			}
			last := int64(0)
			for i, ev := range tr.components {
				c := trCPU.components[i]
				if ev.Component != c.Component || ev.Layer != c.Layer || ev.Phase != c.Phase || ev.Positions != c.Positions {
					t.Fatalf("event %d is %s/%d/%s, cpu %s/%d/%s", i, ev.Phase, ev.Layer, ev.Component, c.Phase, c.Layer, c.Component)
				}
				if ev.Start > ev.End || ev.Start < t0 || ev.End > t1 {
					t.Errorf("event %d (%s) window [%d, %d] outside the run [%d, %d] or reversed", i, ev.Component, ev.Start, ev.End, t0, t1)
				}
				if ev.Start < last-2000 { // 2 µs: the ns/tick rounding of the map
					t.Errorf("event %d (%s) starts at %d before the previous one ended (%d)", i, ev.Component, ev.Start, last)
				}
				last = ev.End
				if ev.Stats == nil || math.Abs(ev.Stats.Mean-c.Stats.Mean) > 1e-3*(1+math.Abs(c.Stats.Std)) || math.Abs(ev.Stats.MaxAbs-c.Stats.MaxAbs) > 1e-3*(1+c.Stats.MaxAbs) {
					t.Errorf("event %d (%s) stats %+v, cpu %+v", i, ev.Component, ev.Stats, c.Stats)
				}
				switch {
				case c.Deep == nil:
				case c.Deep.AttentionEntropy != nil:
					if ev.Deep == nil || ev.Deep.AttentionEntropy == nil || math.Abs(*ev.Deep.AttentionEntropy-*c.Deep.AttentionEntropy) > 1e-4 {
						t.Errorf("event %d attention entropy differs", i)
					} else if ev.Deep.SoftmaxNs != nil {
						t.Errorf("event %d: the GPU has no softmax time, but one is reported", i)
					}
				case c.Deep.MLPKillRatio != nil:
					if ev.Deep == nil || ev.Deep.MLPKillRatio == nil || *ev.Deep.MLPKillRatio != *c.Deep.MLPKillRatio {
						t.Errorf("event %d kill ratio %v, cpu %v", i, ev.Deep, *c.Deep.MLPKillRatio)
					}
				case c.Deep.NormVarianceRatio != nil:
					if ev.Deep == nil || ev.Deep.NormVarianceRatio == nil || math.Abs(*ev.Deep.NormVarianceRatio/(*c.Deep.NormVarianceRatio)-1) > 1e-3 {
						t.Errorf("event %d (%s) variance ratio differs", i, ev.Component)
					}
				}
			}
			if be.Weights().Copied != 0 {
				t.Errorf("%d weight matrices copied; memory-mapped weights are wrapped in place", be.Weights().Copied)
			}
		})
	}
}

// refusingBackend has no kernels for F32 weights.
type refusingBackend struct{ compute.Backend }

func (refusingBackend) Supports(dt compute.DType) bool { return dt != compute.F32 }

// TestUnsupportedWeightsRefusedUpFront: a backend without kernels for a
// weight type is refused by New, not at the first forward pass.
func TestUnsupportedWeightsRefusedUpFront(t *testing.T) {
	v := variants()[0] // F32 weights
	tm := writeTiny(t, v.spec)
	m, err := model.Open(tm.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = New(m, Options{Backend: refusingBackend{compute.NewCPU(1)}})
	if !errors.Is(err, ErrUnsupportedWeights) || !strings.Contains(err.Error(), "F32") {
		t.Errorf("New on a backend without F32 kernels: %v", err)
	}
	bf := variants()[1].spec // BF16 weights: accepted
	e, err := New(openModel(t, writeTiny(t, bf).dir), Options{Backend: refusingBackend{compute.NewCPU(1)}})
	if err != nil {
		t.Fatalf("BF16 weights refused: %v", err)
	}
	e.Close()
}

func openModel(t *testing.T, dir string) *model.Model {
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
