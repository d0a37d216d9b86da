package compute

// quantGEMMMin is the batch from which quantized weights without token-tile
// kernels (usesTiles: Q8_0 and Q4_0 on VNNI CPUs take those from
// tileMinTokens tokens) go through the float prefill GEMM instead: it
// decodes a panel's rows into a worker's scratch (never a whole matrix) and
// sweeps every token through them, so the decoding is paid once per call
// and the products run at the float kernels' speed. Below it, the int8
// kernels are faster.
const quantGEMMMin = 16

// workerAct is one worker's quantized copy of a mat-vec's activations.
// Each worker quantizes them itself, the first time it runs a chunk of the
// mat-vec. Quantizing once on the caller made every mat-vec rewrite lines
// the other workers had read the time before: when the two cores sit on
// different dies of the host (README, "high-bandwidth episodes"), a line
// moving between them costs about 170 ns, and quantizing 768 values took
// 2.3 µs instead of 0.8. Reading x, which the caller wrote, costs each
// worker less than that.
type workerAct struct {
	gen  uint64 // the mat-vec a holds, CPU.actGen
	act  qact
	negs []int32 // x16 kernels, per token: Q8_0's -128·Σq and Q4_0's -8·Σq per 32 values, Q6_K's -32·Σq per 16; none for Q4_K/Q5_K (their mins use the sums)
	_    [64]byte
}

// quantize fills a with the n rows of x quantized for w, unless it holds
// mat-vec gen's already.
func (a *workerAct) quantize(gen uint64, x []float32, n int, w Matrix) {
	if a.gen == gen {
		return
	}
	a.gen = gen
	a.act.quantize(x, n, w.Cols, actBlock(w.DType))
	a.act.p4, a.act.neg = nil, nil
	a.negs = a.negs[:0]
	switch {
	case w.x16 == nil:
		if w.DType == Q4_0 && hasQ4_0Perm() {
			a.act.permuteQ4_0()
		}
	case w.DType == Q8_0:
		for _, s := range a.act.s32 {
			a.negs = append(a.negs, -128*int32(s))
		}
	case w.DType == Q4_0:
		for _, s := range a.act.s32 {
			a.negs = append(a.negs, -8*int32(s))
		}
	case w.DType == Q6_K:
		for _, s := range a.act.s16 {
			a.negs = append(a.negs, -32*int32(s))
		}
	}
}

type quantTask struct {
	act      qact // the tile and panel paths' activations (quanttile.go, quantpanel.go)
	x        []float32
	gen      uint64      // the mat-vec rows' (plan.go): which product this is
	acts     []workerAct // the mat-vec rows': one per worker
	out      []float32
	n        int
	w        Matrix
	bias     []float32
	rowBytes int
	tile     []byte   // packed activations of the token-tile and panel kernels (quanttile.go, quantpanel.go)
	panels   [][]byte // per worker: a packed panel of 16 rows (quantpanel.go)
}

// Run runs the mat-vec rows lo…hi (plan.go), each worker on its own copy of the
// quantized activations.
func (t *quantTask) Run(worker, lo, hi int) {
	a := &t.acts[worker]
	a.quantize(t.gen, t.x, t.n, t.w)
	rows, rb, dt := t.w.Rows, t.rowBytes, t.w.DType
	w := t.w.Data[lo*rb : hi*rb]
	for tok := range t.n {
		act := a.act.row(tok)
		out := t.out[tok*rows+lo : tok*rows+hi]
		if !dotRows(dt, w, rb, act, out) {
			for r := range out {
				out[r] = dotQuant(dt, w[r*rb:(r+1)*rb], act)
			}
		}
		if t.bias != nil {
			for r := range out {
				out[r] += t.bias[lo+r]
			}
		}
	}
}
