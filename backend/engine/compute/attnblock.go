package compute

// AttentionBlock runs one decode token's q, k and v products, RoPE and
// attention as one parallel operation, split by KV group: a worker
// computes the q rows of its groups' heads and the k and v rows of the
// groups, rotates them, writes k and v into the cache and attends with its
// heads. Planned as three operations (the fused q/k/v, RoPE on the caller,
// attention split by head) the workers handed q, k and v to each other
// between them; here a worker reads only what it wrote itself, the cache
// rows of its groups included, so a layer makes one hand-off fewer.

// Rotary is the rotation AttentionBlock applies to q and k: RoPE's tables
// and how many leading values of each head it rotates.
type Rotary struct {
	Cos, Sin []float32
	Dim      int
}

// AttentionBlock computes q, k and v for one token (k.Out and v.Out being
// the cache rows at a.Pos0), rotates q and k by rot at a.Pos0 and attends
// a; the results equal a MatMul for each product, RoPE on q and k, and
// Attend. It reports false, having done nothing, when the block does not
// take the call: more than one token, statistics asked for, float weights,
// fewer KV groups than workers, or heads that do not fill whole panels of
// the x16 kernels.
func (c *CPU) AttentionBlock(x []float32, q, k, v Product, a *Attention, rot Rotary) bool {
	groups := a.KVHeads
	if a.N != 1 || a.Stats != nil || groups < c.pool.Workers() || a.Heads%groups != 0 {
		return false
	}
	ps := [3]Product{q, k, v}
	for _, p := range ps {
		if !p.W.DType.Quantized() {
			return false
		}
	}
	t := &c.fused
	ok := c.planParts(t, x, ps[:])
	for i := range 3 {
		if _, isX16 := t.parts[i].task.(*x16Task); isX16 && a.HeadDim%x16Rows != 0 {
			ok = false
		}
	}
	if !ok {
		c.releaseFused()
		return false
	}
	b := &c.attnBlock
	*b = attnBlockTask{
		q: t.parts[0].task, k: t.parts[1].task, v: t.parts[2].task,
		qOut: q.Out, kOut: k.Out,
		attend: &c.attend, rot: rot, group: a.Heads / groups,
	}
	c.ensureScratch(a.Pos0 + 1)
	c.attend.a = a
	c.pool.Parallel(groups, max(1, groups/c.pool.Workers()), b)
	c.attend.a = nil
	*b = attnBlockTask{}
	c.releaseFused()
	return true
}

// attnBlockTask is AttentionBlock's operation; its items are KV groups.
type attnBlockTask struct {
	q, k, v    Task // x16Task or quantTask
	qOut, kOut []float32
	attend     *attendTask // its Attention set; for one token its items are heads
	rot        Rotary
	group      int // q heads per KV group
}

func (b *attnBlockTask) Run(worker, lo, hi int) {
	a := b.attend.a
	hd := a.HeadDim
	h0, h1 := lo*b.group, hi*b.group // the groups' q heads
	runRows(b.q, worker, h0*hd, h1*hd)
	kx, kok := b.k.(*x16Task)
	vx, vok := b.v.(*x16Task)
	if kok && vok && kx.pairsWithLayout(vx) { // k's panels beside v's: one run of each
		kx.runPaired(worker, vx, lo*hd/x16Rows, lo*hd/x16Rows, (hi-lo)*hd/x16Rows)
	} else {
		runRows(b.k, worker, lo*hd, hi*hd)
		runRows(b.v, worker, lo*hd, hi*hd)
	}
	half := b.rot.Dim / 2
	cs := b.rot.Cos[a.Pos0*half : (a.Pos0+1)*half]
	sn := b.rot.Sin[a.Pos0*half : (a.Pos0+1)*half]
	for h := h0; h < h1; h++ {
		r := b.qOut[h*hd : (h+1)*hd]
		rotate(r[:half], r[half:b.rot.Dim], cs, sn)
	}
	for h := lo; h < hi; h++ {
		r := b.kOut[h*hd : (h+1)*hd]
		rotate(r[:half], r[half:b.rot.Dim], cs, sn)
	}
	b.attend.Run(worker, h0, h1)
}

// runRows computes rows [r0, r1) of a one-token product planned as t; for
// an x16Task they are whole panels, the first half read beside the second.
func runRows(t Task, worker, r0, r1 int) {
	x, ok := t.(*x16Task)
	if !ok {
		t.Run(worker, r0, r1)
		return
	}
	p0, p1 := r0/x16Rows, r1/x16Rows
	half := (p1 - p0) / 2
	x.runPaired(worker, x, p0, p0+half, half)
	if (p1-p0)%2 == 1 { // the odd panel alone
		wa := &x.acts[worker]
		x.alone(wa.act.row(0), wa.negs, x.out, p1-1, p1)
		x.addBias(p1-1, 1)
	}
}
