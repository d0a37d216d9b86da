package compute

// quantGEMMMin is the batch from which quantized weights without token-tile
// kernels (usesTiles: Q8_0 and Q4_0 on VNNI CPUs take those from
// tileMinTokens tokens) go through the float prefill GEMM instead: it
// decodes a panel's rows into a worker's scratch (never a whole matrix) and
// sweeps every token through them, so the decoding is paid once per call
// and the products run at the float kernels' speed. Below it, the int8
// kernels are faster.
const quantGEMMMin = 16

// quantMatMul is MatMul for block-quantized weights and small batches. The activations are
// quantized once on the caller (O(n·cols), small next to the n·rows·cols
// products); then the workers take rows of w. Each worker streams a weight
// row once and applies it to all n tokens while it is in cache, so prefill
// reads the weights once per chunk, like decode reads them once per token.
func (c *CPU) quantMatMul(out, x []float32, n int, w Matrix, bias []float32) {
	if w.x16 != nil {
		c.x16MatMul(out, x, n, w, bias)
		return
	}
	t := &c.quant
	t.act.quantize(x[:n*w.Cols], n, w.Cols, actBlock(w.DType))
	t.act.p4, t.act.neg = nil, nil
	if w.DType == Q4_0 && hasQ4_0Perm() {
		t.act.permuteQ4_0()
	}
	t.out, t.n, t.w, t.bias = out[:n*w.Rows], n, w, bias
	t.rowBytes = w.DType.RowBytes(w.Cols)
	grain := max(16, w.Rows/(4*c.pool.Workers()))
	if n > 1 {
		grain = max(4, w.Rows/(8*c.pool.Workers()))
	}
	c.pool.Parallel(w.Rows, grain, t)
	t.out, t.bias = nil, nil
	t.w = Matrix{}
}

type quantTask struct {
	act      qact
	out      []float32
	n        int
	w        Matrix
	bias     []float32
	rowBytes int
	tile     []byte   // packed activations of the token-tile and panel kernels (quanttile.go, quantpanel.go)
	panels   [][]byte // per worker: a packed panel of 16 rows (quantpanel.go)
	negs     []int32  // the x16 kernels' offset terms (quantx16.go)
}

func (t *quantTask) Run(_, lo, hi int) {
	rows, rb, dt := t.w.Rows, t.rowBytes, t.w.DType
	w := t.w.Data[lo*rb : hi*rb]
	for tok := range t.n {
		a := t.act.row(tok)
		out := t.out[tok*rows+lo : tok*rows+hi]
		if !dotRows(dt, w, rb, a, out) {
			for r := range out {
				out[r] = dotQuant(dt, w[r*rb:(r+1)*rb], a)
			}
		}
		if t.bias != nil {
			for r := range out {
				out[r] += t.bias[lo+r]
			}
		}
	}
}
