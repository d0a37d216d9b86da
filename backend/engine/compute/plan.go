package compute

// The few-token products: the mat-vec kernels that decode takes (and
// quantized weights up to quantGEMMMin tokens). MatMul runs one of them on
// the pool; the fused calls (fused.go) run several as one pool operation.
// Either way a product is first planned: its task is set up in a slot of
// CPU.direct and described by the items it splits into.

// plan is one planned product.
type plan struct {
	task Task
	// items is the task's item count, grain the chunk size MatMul hands the
	// pool; a fused call picks its own chunks from itemBytes.
	items, grain int
	itemBytes    int
	rows         int
	// x16Half > 0: the items are x16Task slots, each two panels x16Half
	// apart; else an item is a row.
	x16Half int
}

// directTasks are one slot's task values: planning allocates nothing.
type directTasks struct {
	matVec matVecTask
	quant  quantTask
	x16    x16Task
	acts   []workerAct // quantized activations, one copy per worker, for this slot's product or a fused call's
}

// nextGen numbers a new product for the workers' quantized activations.
func (c *CPU) nextGen() uint64 {
	c.actGen++
	return c.actGen
}

// plan sets up slot d's task for out = x·wᵀ + bias over n tokens when a
// few-token kernel takes it: the quantized ones below quantGEMMMin tokens
// (the x16 kernels for repacked weights, the row kernels otherwise) and the
// float mat-vec for one token. The workers quantize x into acts (one copy
// each) once per gen: products of the same x and quantization may share
// both, so each worker quantizes x once for all of them. ok is false for
// products that take the batched kernels (MatMul's other paths).
func (c *CPU) plan(d *directTasks, acts []workerAct, gen uint64, out, x []float32, n int, w Matrix, bias []float32) (p plan, ok bool) {
	workers := c.pool.Workers()
	switch {
	case w.DType.Quantized() && n < quantGEMMMin && w.x16 != nil:
		slots := ((w.Rows+x16Rows-1)/x16Rows + 1) / 2
		t := &d.x16
		t.x, t.out, t.n, t.w, t.bias, t.half = x[:n*w.Cols], out[:n*w.Rows], n, w, bias, slots
		t.gen, t.acts = gen, acts
		// Two chunks per worker's share: decode measured 2–5 % faster than
		// with four, and as fast as with one, which would leave nothing to
		// steal.
		grain := max(1, (slots+workers-1)/(2*workers))
		return plan{task: t, items: slots, grain: grain, itemBytes: 2 * x16Rows * w.DType.RowBytes(w.Cols), rows: w.Rows, x16Half: slots}, true
	case w.DType.Quantized() && n < quantGEMMMin:
		t := &d.quant
		t.x, t.gen, t.acts = x[:n*w.Cols], gen, acts
		t.out, t.n, t.w, t.bias = out[:n*w.Rows], n, w, bias
		t.rowBytes = w.DType.RowBytes(w.Cols)
		grain := max(16, w.Rows/(4*workers))
		if n > 1 {
			grain = max(4, w.Rows/(8*workers))
		}
		return plan{task: t, items: w.Rows, grain: grain, itemBytes: t.rowBytes, rows: w.Rows}, true
	case n == 1:
		t := &d.matVec
		t.out, t.x, t.w, t.bias = out[:w.Rows], x[:w.Cols], w, bias
		if w.DType == F16 {
			c.ensureScratch(w.Cols)
		}
		// About 4 chunks per worker: enough to rebalance when the OS takes
		// a core away, few enough that claiming (a contended atomic) stays
		// cheap.
		grain := max(64, w.Rows/(4*workers))
		return plan{task: t, items: w.Rows, grain: grain, itemBytes: w.DType.RowBytes(w.Cols), rows: w.Rows}, true
	}
	return plan{}, false
}

// release drops the slot's references to the last product's buffers.
func (d *directTasks) release() {
	d.matVec.out, d.matVec.x, d.matVec.bias, d.matVec.w = nil, nil, nil, Matrix{}
	d.quant.x, d.quant.out, d.quant.bias, d.quant.w = nil, nil, nil, Matrix{}
	d.x16.x, d.x16.out, d.x16.bias, d.x16.w = nil, nil, nil, Matrix{}
}
