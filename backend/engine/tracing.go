package engine

import (
	"math"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/compute"
)

// traceState forwards component events to the tracer of the running
// generation. With depth DepthOff every method returns at its first branch,
// so the forward pass does no extra work and allocates nothing.
type traceState struct {
	tr    Tracer
	depth Depth
	phase Phase

	attn      compute.Attention // reused per layer, so Attend needs no allocation
	attnStats compute.AttentionStats
	killRatio float64 // gate pre-activations < 0, kept for the activation event
	normInVar float64 // input variance of an in-place norm (deep depth)
}

// upperNote: every hook starts with compute.CleanUpper. The hooks run scalar
// code right after the SIMD kernels, and under GOEXPERIMENT=simd the upper
// register state can be dirty (see compute.CleanUpper); without it module
// depth measured 6 % slower than off, with it about 1-2 %.

func (s *traceState) begin() int64 {
	if s.depth == DepthOff {
		return 0
	}
	return clock.Now()
}

// end reports a component that ran from start until now, with statistics of
// its output. Stats and Deep are fresh per event, so a tracer may keep them.
func (s *traceState) end(layer int, c Component, start int64, n int, out []float32, deep *DeepStats) {
	if s.depth == DepthOff {
		return
	}
	now := clock.Now()
	compute.CleanUpper() // see upperNote
	st := activationStats(out)
	s.tr.Component(ComponentEvent{
		Phase: s.phase, Layer: layer, Component: c, Start: start, End: now,
		Positions: n, Stats: &st, Deep: deep,
	})
}

func (s *traceState) endNorm(layer int, c Component, start int64, n int, in, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, c, start, n, out, nil)
		return
	}
	now := clock.Now()
	compute.CleanUpper()
	_, vin := meanVar(in)
	_, vout := meanVar(out)
	ratio := vin / vout
	st := activationStats(out)
	s.tr.Component(ComponentEvent{
		Phase: s.phase, Layer: layer, Component: c, Start: start, End: now,
		Positions: n, Stats: &st, Deep: &DeepStats{NormVarianceRatio: &ratio},
	})
}

// beginNorm starts a norm that will overwrite its input x: at deep depth it
// measures x's variance first, for endNormInPlace's variance ratio.
func (s *traceState) beginNorm(x []float32) int64 {
	if s.depth < DepthDeep {
		return s.begin()
	}
	compute.CleanUpper()
	_, s.normInVar = meanVar(x)
	return clock.Now()
}

// endNormInPlace reports a norm started with beginNorm; out is its result.
func (s *traceState) endNormInPlace(layer int, c Component, start int64, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, c, start, n, out, nil)
		return
	}
	now := clock.Now()
	compute.CleanUpper()
	_, vout := meanVar(out)
	ratio := s.normInVar / vout
	st := activationStats(out)
	s.tr.Component(ComponentEvent{
		Phase: s.phase, Layer: layer, Component: c, Start: start, End: now,
		Positions: n, Stats: &st, Deep: &DeepStats{NormVarianceRatio: &ratio},
	})
}

func (s *traceState) endAttention(layer int, start int64, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, CompAttention, start, n, out, nil)
		return
	}
	now := clock.Now()
	compute.CleanUpper()
	a := s.attnStats
	ent := a.EntropySum / float64(max(a.Rows, 1))
	sparse := float64(a.Small) / float64(max(a.Weights, 1))
	ns := a.SoftmaxNs
	st := activationStats(out)
	s.tr.Component(ComponentEvent{
		Phase: s.phase, Layer: layer, Component: CompAttention, Start: start, End: now,
		Positions: n, Stats: &st,
		Deep: &DeepStats{AttentionEntropy: &ent, AttentionSparsity: &sparse, SoftmaxNs: &ns},
	})
}

// endGate reports gate_proj and, at deep depth, remembers the fraction of
// its outputs below zero for the activation event (SwiGLU overwrites them).
func (s *traceState) endGate(layer int, start int64, n int, gate []float32) {
	if s.depth == DepthOff {
		return
	}
	s.end(layer, CompGateProj, start, n, gate, nil)
	if s.depth >= DepthDeep {
		neg := 0
		for _, v := range gate {
			if v < 0 {
				neg++
			}
		}
		s.killRatio = float64(neg) / float64(max(len(gate), 1))
	}
}

func (s *traceState) endActivation(layer int, start int64, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, CompActivation, start, n, out, nil)
		return
	}
	kill := s.killRatio
	s.end(layer, CompActivation, start, n, out, &DeepStats{MLPKillRatio: &kill})
}

// activationStats summarises a component's output (module depth).
func activationStats(x []float32) ActivationStats {
	if len(x) == 0 {
		return ActivationStats{}
	}
	sum, sumSq, maxAbs, small := compute.Moments(x, SparsityThreshold)
	n := float64(len(x))
	mean := sum / n
	return ActivationStats{
		Mean:     mean,
		Std:      math.Sqrt(max(sumSq/n-mean*mean, 0)),
		MaxAbs:   float64(maxAbs),
		Sparsity: float64(small) / n,
	}
}

func meanVar(x []float32) (mean, variance float64) {
	sum, sumSq, _, _ := compute.Moments(x, 0)
	n := float64(max(len(x), 1))
	mean = sum / n
	return mean, max(sumSq/n-mean*mean, 0)
}

// endRouter reports a router call on n positions starting at pos0: its
// routing decisions (module depth) and, at deep depth, the entropy of its
// probabilities and how evenly it spread the load. probs holds the n rows
// of softmax probabilities over all experts.
func (s *traceState) endRouter(layer int, start int64, n, pos0 int, r *routing, probs []float32) {
	if s.depth == DepthOff {
		return
	}
	now := clock.Now()
	compute.CleanUpper()
	k := r.topK
	rt := &Routing{Pos0: pos0, TopK: k, Experts: make([]int, n*k), Weights: make([]float32, n*k)}
	copy(rt.Experts, r.chosen[:n*k])
	copy(rt.Weights, r.weights[:n*k])
	st := activationStats(probs)
	ev := ComponentEvent{
		Phase: s.phase, Layer: layer, Component: CompRouter, Start: start, End: now,
		Positions: n, Stats: &st, Routing: rt,
	}
	if s.depth >= DepthDeep {
		experts := len(probs) / n
		var entropy float64
		meanP := make([]float64, experts)
		for p := range n {
			for ex, v := range probs[p*experts : (p+1)*experts] {
				if v > 0 {
					entropy -= float64(v) * math.Log(float64(v))
				}
				meanP[ex] += float64(v) / float64(n)
			}
		}
		entropy /= float64(n)
		var balance float64
		for ex := range experts {
			share := float64(len(r.rows[ex])) / float64(n*k)
			balance += share * meanP[ex]
		}
		balance *= float64(experts)
		ev.Deep = &DeepStats{RouterEntropy: &entropy, RouterLoadBalance: &balance}
	}
	s.tr.Component(ev)
}
