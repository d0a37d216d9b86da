package engine

import (
	"errors"
	"math"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/model"
)

// A mixture-of-experts layer (Mixtral, Qwen2-MoE, Qwen3-MoE) replaces the
// dense MLP by a router and a set of expert MLPs: each position runs only
// the top-k experts the router picks and adds their outputs, weighted by the
// router's probabilities. Decode therefore reads only the chosen experts'
// weights; prefill gathers the positions routed to each expert and runs them
// through that expert in one batched matmul.

// moeLayer is one MoE layer's weights.
type moeLayer struct {
	router     compute.Matrix // [experts, hidden]
	experts    []expertMLP
	shared     *expertMLP     // Qwen2-MoE's shared expert; nil elsewhere
	sharedGate compute.Matrix // [1, hidden]: sigmoid(sharedGate·h) scales the shared expert
}

// expertMLP is a SwiGLU MLP: down(silu(gate·h) · up·h).
type expertMLP struct{ gate, up, down compute.Matrix }

func (m *expertMLP) bytes() int64 { return int64(len(m.gate.Data) + len(m.up.Data) + len(m.down.Data)) }

func loadMoE(w model.LayerWeights) (*moeLayer, error) {
	m := &moeLayer{}
	var err error
	if m.router, err = matrix(w.Router); err != nil {
		return nil, err
	}
	load := func(x model.ExpertWeights) (expertMLP, error) {
		var e expertMLP
		var err error
		if e.gate, err = matrix(x.Gate); err != nil {
			return e, err
		}
		if e.up, err = matrix(x.Up); err != nil {
			return e, err
		}
		e.down, err = matrix(x.Down)
		return e, err
	}
	for _, x := range w.Experts {
		e, err := load(x)
		if err != nil {
			return nil, err
		}
		m.experts = append(m.experts, e)
	}
	if len(m.experts) == 0 {
		return nil, errors.New("engine: an MoE layer without experts")
	}
	if w.SharedExpert != nil {
		s, err := load(*w.SharedExpert)
		if err != nil {
			return nil, err
		}
		m.shared = &s
		if m.sharedGate, err = matrix(w.SharedExpertGate); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// routing holds one chunk's routing decisions and the buffers the experts
// work in, allocated once for PrefillChunk positions. logits, gate, in and
// out are backend memory (the operations write them); the rest is the
// CPU's.
type routing struct {
	topK     int
	normTopK bool
	logits   []float32   // [n, experts] router logits, then softmax probabilities
	chosen   []int       // [n, topK] chosen experts, best first
	weights  []float32   // [n, topK] their routing weights
	rows     [][]int     // per expert: the positions routed to it, ascending
	rowW     [][]float32 // per expert: those positions' routing weights
	in, out  []float32   // [n, hidden]: gathered expert inputs and one expert's outputs
	gate     []float32   // [n]: the shared expert's gate logits
	gateW    []float32   // [n]: sigmoid of gate, the shared expert's weights
	all      []int       // 0 … n-1: every position, for the shared expert
	names    []Component // "experts.<e>", made once so tracing allocates nothing
}

func newRouting(be compute.Backend, experts, topK int, normTopK bool, n, dim int) routing {
	r := routing{
		topK: topK, normTopK: normTopK,
		logits: be.Alloc(n * experts), chosen: make([]int, n*topK), weights: make([]float32, n*topK),
		rows: make([][]int, experts), rowW: make([][]float32, experts),
		in: be.Alloc(n * dim), out: be.Alloc(n * dim), gate: be.Alloc(n), gateW: make([]float32, n),
		all: make([]int, n),
	}
	for e := range experts {
		r.rows[e] = make([]int, 0, n)
		r.rowW[e] = make([]float32, 0, n)
		r.names = append(r.names, ExpertComponent(e))
	}
	for p := range r.all {
		r.all[p] = p
	}
	return r
}

// mixture runs MoE layer li on the n normalised rows h and adds its output
// to the residual stream: x += Σ_chosen weight·expert(h), plus the gated
// shared expert where there is one.
//
// The router's choice decides which experts run, so the operations queued
// so far are flushed after the router: an MoE layer costs a backend
// (Metal: a command buffer) round trip, which lets decode read only the
// chosen experts' weights.
func (e *Engine) mixture(li int, m *moeLayer, h []float32, n int) error {
	be, tr, r, dim := e.be, &e.trace, &e.route, e.dim
	x := e.x[:n*dim]
	nExp := len(m.experts)

	// Router: logits, softmax over all experts and top-k, in float32. The
	// shared expert's gate logits come along before the flush.
	t := tr.begin()
	logits := r.logits[:n*nExp]
	be.MatMul(logits, h, n, m.router, nil)
	tEnd := tr.begin()
	if m.shared != nil {
		be.MatMul(r.gate[:n], h, n, m.sharedGate, nil)
	}
	if err := e.flush(); err != nil {
		return err
	}
	r.choose(logits, n, nExp)
	tr.endRouter(li, t, tEnd, n, e.pos, r, logits)

	// Each expert once, on every position routed to it; experts nobody
	// chose are skipped, so their weights are never read.
	for ex := range m.experts {
		rows := r.rows[ex]
		if len(rows) == 0 {
			continue
		}
		t = tr.begin()
		c := len(rows)
		in := h
		if c < n { // gather the routed rows into one batch
			in = r.in[:c*dim]
			be.Gather(in, h, rows, dim)
		}
		out := r.out[:c*dim]
		e.expert(&m.experts[ex], in, out, c)
		be.ScatterAdd(x, out, rows, r.rowW[ex], dim)
		tr.end(li, r.names[ex], t, c, out)
	}

	// Shared expert (Qwen2-MoE): every position, scaled by sigmoid(gate·h).
	if m.shared != nil {
		t = tr.begin()
		out := r.out[:n*dim]
		e.expert(m.shared, h, out, n)
		for p, g := range r.gate[:n] {
			r.gateW[p] = float32(1 / (1 + math.Exp(-float64(g))))
		}
		be.ScatterAdd(x, out, r.all[:n], r.gateW[:n], dim)
		tr.end(li, CompSharedExpert, t, n, out)
	}
	return nil
}

// expert runs a SwiGLU MLP on n rows of in, writing n rows to out.
func (e *Engine) expert(w *expertMLP, in, out []float32, n int) {
	inter := w.gate.Rows
	g, u := e.hb[:n*inter], e.hb2[:n*inter]
	e.be.MatMul(g, in, n, w.gate, nil)
	e.be.MatMul(u, in, n, w.up, nil)
	e.be.SwiGLU(g, u)
	e.be.MatMul(out, g, n, w.down, nil)
}

// choose turns n rows of router logits into probabilities in place
// (softmax in float32, as transformers computes it), picks each row's top-k
// experts, renormalises their weights when the model does, and lists the
// positions routed to each expert.
func (r *routing) choose(logits []float32, n, experts int) {
	for ex := range r.rows {
		r.rows[ex], r.rowW[ex] = r.rows[ex][:0], r.rowW[ex][:0]
	}
	k := r.topK
	for p := range n {
		probs := logits[p*experts : (p+1)*experts]
		softmax32(probs)
		chosen, weights := r.chosen[p*k:(p+1)*k], r.weights[p*k:(p+1)*k]
		topK(probs, chosen)
		var sum float32
		for i, ex := range chosen {
			weights[i] = probs[ex]
			sum += probs[ex]
		}
		for i, ex := range chosen {
			if r.normTopK {
				weights[i] /= sum
			}
			r.rows[ex] = append(r.rows[ex], p)
			r.rowW[ex] = append(r.rowW[ex], weights[i])
		}
	}
}

// softmax32 normalises x in place in float32.
func softmax32(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - m)))
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// topK fills chosen with the indices of the len(chosen) largest values of
// p, largest first; on equal values the lower index wins (torch.topk's
// order on CPU).
func topK(p []float32, chosen []int) {
	for i := range chosen {
		best := -1
		for j, v := range p {
			if best >= 0 && v <= p[best] {
				continue
			}
			taken := false
			for _, c := range chosen[:i] {
				if c == j {
					taken = true
					break
				}
			}
			if !taken {
				best = j
			}
		}
		chosen[i] = best
	}
}
