package compute

// Fused calls run the products of one decode token that share an input as
// one pool operation instead of one each: a layer's q, k and v projections
// (MatVecs), and its gate and up projections with the activation between
// them (GatedMatVec). Every pool operation is a hand-off between the cores:
// the caller publishes the task, the helpers wake, read the input the
// caller wrote and write rows the caller reads next. When the host puts
// our two cores on different dies (README, "high-bandwidth episodes") each
// hand-off costs microseconds, and a decode step made nine per layer;
// fused, it makes five, and four where AttentionBlock (attnblock.go) runs
// q/k/v with RoPE and attention.
//
// The parts of a fused call run on different cores at the same time, so
// they cannot each get a time span of their own: the engine fuses only
// when it does not time components (tracing off).

// Product is one product of a fused call: Out = x·Wᵀ + Bias for one token.
type Product struct {
	Out  []float32
	W    Matrix
	Bias []float32
}

// Activation is the nonlinearity GatedMatVec applies to the gate.
type Activation uint8

const (
	SiLU     Activation = iota // SwiGLU: silu(gate)·up
	GELUTanh                   // GeGLU (Gemma): tanh-approximated gelu(gate)·up
)

// maxFused is the most products one call fuses: a layer's q, k and v.
const maxFused = 3

// chunksPerWorker is how many chunks a fused call is cut into per worker:
// its parts differ in size (q is 3–8 times k in GQA models), so chunks of
// about equal bytes let the pool's even split by chunk count balance the
// cores. As many as MatMul cuts the same kernels' mat-vecs into: two for
// the x16 kernels, four for the row kernels. In-process A/B of two against
// four: decode of the Q4_0 and Q4_K_M demos 0.3–1 % faster in the usual
// host state and 0.2–4 % in high-bandwidth episodes, Q8_0 within ±1 %;
// BF16 (the row kernels) gained nothing, so the row kernels keep four.
func (t *fusedTask) chunksPerWorker() int {
	for i := range t.count {
		if t.parts[i].x16Half == 0 {
			return 4
		}
	}
	return 2
}

// fusedTask runs the parts of a fused call. Its items are the parts'
// chunks, numbered part after part; a gated task's chunk k is chunk k of
// both the gate and the up product (same shape and split), followed by the
// activation of the rows the two produced.
//
// A paired gated task's items are panels of 16 rows, and a chunk runs the
// kernel over its panels of the gate and of the up matrix side by side:
// each worker then reads one run of each matrix. Unpaired, an x16 product
// is read as two runs of its own, so a worker read four runs, restarting
// two of them at every chunk; the hardware prefetchers need a few
// microseconds to bring a new run up to speed. Pairing made decode 1.5 %
// faster in the host's usual state and 2–4 % in its high-bandwidth
// episodes (in-process A/B, Q8_0/Q4_0/Q4_K_M demos).
type fusedTask struct {
	stacked stackedTask
	parts   [maxFused]fusedPart
	count   int
	gated   bool
	paired  bool
	act     Activation
}

// fusedPart is one part's plan, cut into chunks chunks of grain items
// (split overrides MatMul's grain) starting at chunk first of the fused
// numbering.
type fusedPart struct {
	plan
	out           []float32
	first, chunks int
}

func (t *fusedTask) Run(worker, lo, hi int) {
	for k := lo; k < hi; k++ {
		if t.gated {
			t.gatedChunk(worker, k)
			continue
		}
		i := 0
		for k >= t.parts[i].first+t.parts[i].chunks {
			i++
		}
		p := &t.parts[i]
		c := k - p.first
		p.task.Run(worker, c*p.grain, min((c+1)*p.grain, p.items))
	}
}

func (t *fusedTask) gatedChunk(worker, k int) {
	gate, up := &t.parts[0], &t.parts[1]
	lo, hi := k*gate.grain, min((k+1)*gate.grain, gate.items)
	var spans [2][2]int
	if t.paired { // items are panels of both matrices
		gate.task.(*x16Task).runPaired(worker, up.task.(*x16Task), lo, lo, hi-lo)
		spans[0] = [2]int{lo * x16Rows, hi * x16Rows}
	} else {
		gate.task.Run(worker, lo, hi)
		up.task.Run(worker, lo, hi)
		spans = gate.rowSpans(lo, hi)
	}
	for _, span := range spans {
		g, u := gate.out[span[0]:span[1]], up.out[span[0]:span[1]]
		if t.act == GELUTanh {
			geglu(g, u)
		} else {
			swiglu(g, u)
		}
	}
}

// rowSpans are the output rows items [lo, hi) of p write: one run for
// row tasks, two for x16 slots (panels lo…hi and their partners x16Half
// further on); an empty span is {r, r}.
func (p *plan) rowSpans(lo, hi int) [2][2]int {
	if p.x16Half == 0 {
		return [2][2]int{{lo, hi}, {hi, hi}}
	}
	r := func(panel int) int { return min(panel*x16Rows, p.rows) }
	return [2][2]int{{r(lo), r(hi)}, {r(lo + p.x16Half), r(hi + p.x16Half)}}
}

// sameActs reports whether products with weights a and b use the same
// quantized activations of one input.
func sameActs(a, b Matrix) bool {
	return a.DType == b.DType && (a.x16 == nil) == (b.x16 == nil) && a.Cols == b.Cols
}

// MatVecs computes every product of one token's x (at most maxFused) as
// one parallel operation; the results equal len(ps) MatMul calls with
// n = 1.
func (c *CPU) MatVecs(x []float32, ps []Product) {
	t := &c.fused
	if len(ps) > maxFused || !c.planParts(t, x, ps) {
		c.releaseFused()
		c.unfused(x, ps)
		return
	}
	t.gated, t.paired = false, false
	if st := &t.stacked; st.stack(t) {
		c.pool.Parallel(st.half, max(1, st.half/(t.chunksPerWorker()*c.pool.Workers())), st)
		*st = stackedTask{}
		c.releaseFused()
		return
	}
	total := 0
	for i := range t.count {
		total += t.parts[i].items * t.parts[i].itemBytes
	}
	target := t.chunksPerWorker() * c.pool.Workers()
	chunks := 0
	for i := range t.count {
		p := &t.parts[i]
		want := (2*target*p.items*p.itemBytes + total) / (2 * total) // rounded share of target
		p.split(max(1, want), 1)
		p.first = chunks
		chunks += p.chunks
	}
	c.pool.Parallel(chunks, 1, t)
	c.releaseFused()
}

// GatedMatVec computes gate.Out = act(x·gateᵀ + b) · (x·upᵀ + b) for one
// token as one parallel operation, each worker applying the activation to
// the rows it just computed; up.Out holds x·upᵀ + b afterwards. The
// results equal two MatMul calls and SwiGLU (or GeGLU) on the outputs.
func (c *CPU) GatedMatVec(x []float32, gate, up Product, act Activation) {
	t := &c.fused
	ps := [2]Product{gate, up}
	if !c.planParts(t, x, ps[:]) || t.parts[0].items != t.parts[1].items || t.parts[0].x16Half != t.parts[1].x16Half || t.parts[0].rows != t.parts[1].rows {
		c.releaseFused()
		c.unfused(x, ps[:])
		if act == GELUTanh {
			c.GeGLU(gate.Out[:gate.W.Rows], up.Out)
		} else {
			c.SwiGLU(gate.Out[:gate.W.Rows], up.Out)
		}
		return
	}
	t.gated, t.act = true, act
	g := &t.parts[0]
	gx, ok1 := g.task.(*x16Task)
	ux, ok2 := t.parts[1].task.(*x16Task)
	t.paired = ok1 && ok2 && gx.pairsWith(ux)
	if t.paired {
		g.items = g.rows / x16Rows
	}
	// Row chunks of whole 16s keep the activation's SIMD loop on the same
	// boundaries as SwiGLU's own split.
	align := 1
	if g.x16Half == 0 {
		align = 16
	}
	g.split(t.chunksPerWorker()*c.pool.Workers(), align)
	t.parts[1].grain = g.grain
	c.pool.Parallel(g.chunks, 1, t)
	c.releaseFused()
}

// planParts plans each product in a slot of its own; products that use the
// same quantized activations share the first one's copies. It reports
// false when a product does not take a few-token kernel.
func (c *CPU) planParts(t *fusedTask, x []float32, ps []Product) bool {
	var gens [maxFused]uint64
	t.count = len(ps)
	for i, p := range ps {
		owner := i
		for j := range i {
			if sameActs(ps[j].W, p.W) {
				owner = j
				break
			}
		}
		if owner == i {
			gens[i] = c.nextGen()
		} else {
			gens[i] = gens[owner]
		}
		pl, ok := c.plan(&c.direct[i], c.direct[owner].acts, gens[i], p.Out, x, 1, p.W, p.Bias)
		if !ok {
			return false
		}
		t.parts[i] = fusedPart{plan: pl, out: p.Out[:p.W.Rows]}
	}
	return true
}

// split cuts the part into about want chunks of a multiple of align items.
func (p *fusedPart) split(want, align int) {
	want = min(max(1, want), p.items)
	p.grain = (p.items + want - 1) / want
	p.grain = (p.grain + align - 1) / align * align
	p.chunks = (p.items + p.grain - 1) / p.grain
}

// unfused runs ps one MatMul at a time.
func (c *CPU) unfused(x []float32, ps []Product) {
	for _, p := range ps {
		c.MatMul(p.Out, x, 1, p.W, p.Bias)
	}
}

func (c *CPU) releaseFused() {
	for i := range c.fused.count {
		c.direct[i].release()
		c.fused.parts[i] = fusedPart{}
	}
}

// stackedTask runs a fused call's x16 products, all of one type and panel
// layout, as one matrix of their panels stacked: slot i pairs stacked
// panel i with panel i+half, as x16Task pairs a matrix's own panels. A
// worker then reads two runs in all, where planned part by part it read
// two per product and restarted them at each part (see fusedTask on
// runs). In-process A/B of q, k and v this way: decode 0.5 % faster in
// the host's usual state, 1 % in its high-bandwidth episodes.
type stackedTask struct {
	parts [maxFused]*x16Task
	start [maxFused + 1]int // each part's first stacked panel; start[count] is the total
	count int
	half  int // slots
}

// stack sets s up for t's parts and reports whether they stack: x16 tasks
// of one token, type and layout, sharing quantized activations, in whole
// panels.
func (s *stackedTask) stack(t *fusedTask) bool {
	first, ok := t.parts[0].task.(*x16Task)
	if !ok {
		return false
	}
	s.count = t.count
	for i := range t.count {
		p, ok := t.parts[i].task.(*x16Task)
		if !ok || !first.pairsWithLayout(p) || p.w.Rows%x16Rows != 0 || p.gen != first.gen {
			*s = stackedTask{}
			return false
		}
		s.parts[i] = p
		s.start[i+1] = s.start[i] + p.w.Rows/x16Rows
	}
	s.half = (s.start[s.count] + 1) / 2
	return true
}

// part is the index of the part that holds stacked panel p (count when
// p is past the last).
func (s *stackedTask) part(p int) int {
	i := 0
	for i < s.count && p >= s.start[i+1] {
		i++
	}
	return i
}

func (s *stackedTask) Run(worker, lo, hi int) {
	first := s.parts[0]
	wa := &first.acts[worker]
	wa.quantize(first.gen, first.x, 1, first.w)
	a := wa.act.row(0)
	for p := lo; p < hi; {
		i, j := s.part(p), s.part(p+s.half)
		n := min(hi, s.start[i+1]) - p
		if j == s.count { // the last slot of an odd panel count: its panel alone
			pa := p - s.start[i]
			s.parts[i].alone(a, wa.negs, s.parts[i].out, pa, pa+1)
			s.parts[i].addBias(pa, 1)
			p++
			continue
		}
		n = min(n, s.start[j+1]-(p+s.half))
		pa, pb := p-s.start[i], p+s.half-s.start[j]
		x16Kernel(first.w.DType, s.parts[i].w.x16, s.parts[j].w.x16, pa, pb, n, a, wa.negs, s.parts[i].out[pa*x16Rows:], s.parts[j].out[pb*x16Rows:])
		s.parts[i].addBias(pa, n)
		s.parts[j].addBias(pb, n)
		p += n
	}
}
