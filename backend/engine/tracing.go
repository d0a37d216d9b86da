package engine

import (
	"math"

	"energyprofiler/backend/engine/compute"
)

// traceState forwards component events to the tracer of the running
// generation. With depth DepthOff every method returns at its first branch,
// so the forward pass does no extra work and allocates nothing.
//
// A backend may queue operations and run them later (Metal), so a traced
// component is recorded as a pending event: marks around its operations
// (its start and end on the backend's clock) and probes of its output (its
// activation statistics, measured where the data lives). Both are answered
// by the backend's Flush; emit then hands the events to the tracer, in
// order. On the CPU backend the answers are there at once and emit runs
// after every chunk, so a tracer sees the same events either way.
type traceState struct {
	tr    Tracer
	be    compute.Backend
	depth Depth
	phase Phase

	attn    compute.Attention // reused per layer, so Attend needs no allocation
	gate    *pendingEvent     // the last gate_proj event: its negatives give the MLP kill ratio
	next    *pendingEvent     // reserved for the next event (attentionStats, beginNorm, endGate)
	pending []*pendingEvent   // recorded, not yet emitted
	free    []*pendingEvent   // emitted, for reuse
}

// eventKind says which deep statistics a pending event carries.
type eventKind uint8

const (
	kindPlain      eventKind = iota
	kindNorm                 // deep: input/output variance ratio
	kindAttention            // deep: entropy, sparsity, softmax time
	kindActivation           // deep: the gate's kill ratio
	kindDone                 // statistics computed on the CPU already (router)
)

// pendingEvent is one traced component waiting for its backend's Flush.
type pendingEvent struct {
	layer      int
	comp       Component
	start, end compute.Mark
	n          int
	kind       eventKind
	out, in    compute.Probe // output statistics; input statistics of a deep norm
	attn       compute.AttentionStats
	gate       *pendingEvent // kindActivation: the gate_proj event
	stats      ActivationStats
	deep       *DeepStats
	routing    *Routing
	// times: start and end in clock.Now() nanoseconds, for an event whose
	// marks were resolved by an earlier Flush (the router's)
	times *[2]int64
}

// upperNote: every hook that runs scalar code starts with
// compute.CleanUpper. The hooks run scalar code right after the SIMD
// kernels, and under GOEXPERIMENT=simd the upper register state can be
// dirty (see compute.CleanUpper); without it module depth measured 6 %
// slower than off, with it about 1-2 %.

func (s *traceState) begin() compute.Mark {
	if s.depth == DepthOff {
		return 0
	}
	return s.be.Mark()
}

// event records a component that ran from start until now and probes its
// output.
func (s *traceState) event(layer int, c Component, start compute.Mark, n int, out []float32, kind eventKind) *pendingEvent {
	ev := s.next
	s.next = nil
	if ev == nil {
		ev = s.newEvent()
	}
	ev.layer, ev.comp, ev.start, ev.end, ev.n, ev.kind = layer, c, start, s.be.Mark(), n, kind
	ev.out.Small = SparsityThreshold // CountNegative may be set by a reservation (endGate)
	s.be.Probe(&ev.out, out)
	s.pending = append(s.pending, ev)
	return ev
}

func (s *traceState) newEvent() *pendingEvent {
	if k := len(s.free); k > 0 {
		ev := s.free[k-1]
		s.free = s.free[:k-1]
		*ev = pendingEvent{}
		return ev
	}
	return &pendingEvent{}
}

// end reports a component that ran from start until now, with statistics of
// its output.
func (s *traceState) end(layer int, c Component, start compute.Mark, n int, out []float32) {
	if s.depth == DepthOff {
		return
	}
	s.event(layer, c, start, n, out, kindPlain)
}

// endNorm reports a norm from in to out; deep depth adds the ratio of their
// variances.
func (s *traceState) endNorm(layer int, c Component, start compute.Mark, n int, in, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, c, start, n, out)
		return
	}
	ev := s.event(layer, c, start, n, out, kindNorm)
	s.be.Probe(&ev.in, in)
}

// beginNorm starts a norm that will overwrite its input x: at deep depth it
// reserves the norm's event and probes x into it first, for
// endNormInPlace's variance ratio.
func (s *traceState) beginNorm(x []float32) compute.Mark {
	if s.depth < DepthDeep {
		return s.begin()
	}
	s.next = s.newEvent()
	s.be.Probe(&s.next.in, x)
	return s.be.Mark()
}

// endNormInPlace reports a norm started with beginNorm; out is its result.
func (s *traceState) endNormInPlace(layer int, c Component, start compute.Mark, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, c, start, n, out)
		return
	}
	s.event(layer, c, start, n, out, kindNorm)
}

// attentionStats reserves the attention event of this layer and returns
// where the backend should put its deep statistics (nil below deep depth).
func (s *traceState) attentionStats() *compute.AttentionStats {
	if s.depth < DepthDeep {
		return nil
	}
	s.next = s.newEvent()
	return &s.next.attn
}

func (s *traceState) endAttention(layer int, start compute.Mark, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, CompAttention, start, n, out)
		return
	}
	s.event(layer, CompAttention, start, n, out, kindAttention)
}

// endGate reports gate_proj; at deep depth its probe also counts the
// outputs below zero, for the activation event (SwiGLU overwrites them).
func (s *traceState) endGate(layer int, start compute.Mark, n int, gate []float32) {
	if s.depth < DepthDeep {
		s.end(layer, CompGateProj, start, n, gate)
		return
	}
	s.next = s.newEvent()
	s.next.out.CountNegative = true
	s.gate = s.event(layer, CompGateProj, start, n, gate, kindPlain)
}

func (s *traceState) endActivation(layer int, start compute.Mark, n int, out []float32) {
	if s.depth < DepthDeep {
		s.end(layer, CompActivation, start, n, out)
		return
	}
	ev := s.event(layer, CompActivation, start, n, out, kindActivation)
	ev.gate = s.gate
}

// emit hands every pending event to the tracer, in order. Call it right
// after the backend's Flush: the marks and probes have their answers then.
func (s *traceState) emit() {
	if s.depth == DepthOff {
		return
	}
	compute.CleanUpper() // see upperNote
	for _, ev := range s.pending {
		e := ComponentEvent{
			Phase: s.phase, Layer: ev.layer, Component: ev.comp,
			Positions: ev.n, Routing: ev.routing, Deep: ev.deep,
		}
		if ev.times != nil {
			e.Start, e.End = ev.times[0], ev.times[1]
		} else {
			e.Start, e.End = s.be.Time(ev.start), s.be.Time(ev.end)
		}
		st := ev.stats
		if ev.kind != kindDone {
			st = probeStats(&ev.out)
		}
		e.Stats = &st
		switch ev.kind {
		case kindNorm:
			ratio := probeVar(&ev.in) / probeVar(&ev.out)
			e.Deep = &DeepStats{NormVarianceRatio: &ratio}
		case kindAttention:
			a := ev.attn
			ent := a.EntropySum / float64(max(a.Rows, 1))
			sparse := float64(a.Small) / float64(max(a.Weights, 1))
			e.Deep = &DeepStats{AttentionEntropy: &ent, AttentionSparsity: &sparse}
			if !a.SoftmaxUntimed {
				ns := a.SoftmaxNs
				e.Deep.SoftmaxNs = &ns
			}
		case kindActivation:
			if g := ev.gate; g != nil {
				kill := float64(g.out.Negative) / float64(max(g.out.N, 1))
				e.Deep = &DeepStats{MLPKillRatio: &kill}
			}
		}
		s.tr.Component(e)
	}
	s.free = append(s.free, s.pending...)
	clear(s.pending)
	s.pending = s.pending[:0]
	s.gate = nil
}

// drop forgets pending events whose operations never ran (a failed Flush).
func (s *traceState) drop() {
	s.free = append(s.free, s.pending...)
	clear(s.pending)
	s.pending, s.gate, s.next = s.pending[:0], nil, nil
}

// probeStats turns a probe into a component's activation statistics.
func probeStats(p *compute.Probe) ActivationStats {
	if p.N == 0 {
		return ActivationStats{}
	}
	n := float64(p.N)
	mean := p.Sum / n
	return ActivationStats{
		Mean:     mean,
		Std:      math.Sqrt(max(p.SumSq/n-mean*mean, 0)),
		MaxAbs:   float64(p.MaxAbs),
		Sparsity: float64(p.Below) / n,
	}
}

// probeVar is the variance of the probed tensor.
func probeVar(p *compute.Probe) float64 {
	n := float64(max(p.N, 1))
	mean := p.Sum / n
	return max(p.SumSq/n-mean*mean, 0)
}

// activationStats summarises a component's output (module depth) on the
// CPU, for data the CPU holds already (router probabilities).
func activationStats(x []float32) ActivationStats {
	var p compute.Probe
	p.N = len(x)
	p.Sum, p.SumSq, p.MaxAbs, p.Below = compute.Moments(x, SparsityThreshold)
	return probeStats(&p)
}

// endRouter records a router call on n positions starting at pos0, from
// start to end (marks of the batch just flushed): its routing decisions (module depth) and, at deep depth,
// the entropy of its probabilities and how evenly it spread the load. probs
// holds the n rows of softmax probabilities over all experts, on the CPU
// (the router's choice needs them there anyway).
func (s *traceState) endRouter(layer int, start, end compute.Mark, n, pos0 int, r *routing, probs []float32) {
	if s.depth == DepthOff {
		return
	}
	compute.CleanUpper()
	k := r.topK
	rt := &Routing{Pos0: pos0, TopK: k, Experts: make([]int, n*k), Weights: make([]float32, n*k)}
	copy(rt.Experts, r.chosen[:n*k])
	copy(rt.Weights, r.weights[:n*k])
	ev := s.newEvent()
	ev.layer, ev.comp, ev.start, ev.end, ev.n, ev.kind = layer, CompRouter, start, end, n, kindDone
	ev.stats, ev.routing = activationStats(probs), rt
	ev.times = &[2]int64{s.be.Time(start), s.be.Time(end)} // the next batch's marks replace these
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
		ev.deep = &DeepStats{RouterEntropy: &entropy, RouterLoadBalance: &balance}
	}
	s.pending = append(s.pending, ev)
}
