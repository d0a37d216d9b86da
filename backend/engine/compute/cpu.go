package compute

import (
	"fmt"
	"math"

	"energyprofiler/backend/clock"
)

// CPU is the Backend that runs on this machine's cores. Its operations are
// split over a persistent Pool: matrix rows in contiguous chunks, attention
// by (query, head). Small element-wise operations run inline on the caller.
type CPU struct {
	pool    *Pool
	scratch [][]float32 // per worker, grown before a parallel call, never shrunk

	// One reusable task value per operation, so dispatching allocates nothing.
	matMat    matMatTask
	gemm      gemmTask
	attend    attendTask
	attnBlock attnBlockTask
	attendB   attendBatchedTask
	swiglu    swigluTask
	geglu     gegluTask
	norm      normTask
	rope      ropeTask
	add       addTask
	quant     quantTask // block-quantized weights, the tile and panel paths (quanttile.go, quantpanel.go)
	// direct holds the tasks of the few-token products (plan.go): slot 0
	// for MatMul, all of them for one fused call (MatVecs, GatedMatVec).
	direct  [maxFused]directTasks
	actGen  uint64 // counts the products, for the workers' quantized activations (workerAct)
	fused   fusedTask
	workers []workerStats

	// useGEMM routes prefill products through the packed-panel GEMM
	// (gemm.go) where the CPU has its kernels; tests turn it off to compare.
	useGEMM  bool
	useGEMM2 bool              // the AVX2 GEMM, on CPUs with AVX2 but not AVX-512
	zeroBias [gemmRows]float32 // the GEMM kernel's bias when there is none

	// useAMX routes prefill products of BF16 weights through the AMX tile
	// kernel (amx.go) where the CPU and OS allow it.
	useAMX    bool
	amxConfig [64]byte
	amxPlanes []uint16 // activations split into bf16 planes, grown as needed
	split     splitTask
	amx       amxTask

	// packedBytes counts the weights PackWeights repacked (quantx16.go).
	packedBytes int64
}

// NewCPU starts a CPU backend on threads workers (< 1: GOMAXPROCS).
func NewCPU(threads int) *CPU {
	p := NewPool(threads)
	c := &CPU{pool: p, scratch: make([][]float32, p.Workers()), workers: make([]workerStats, p.Workers())}
	for i := range c.direct {
		d := &c.direct[i]
		d.matVec.cpu, d.acts = c, make([]workerAct, p.Workers())
	}
	c.matMat.cpu, c.gemm.cpu, c.attend.cpu, c.attendB.cpu = c, c, c, c
	c.useGEMM = gemmAvailable()
	c.useGEMM2 = !c.useGEMM && gemmAVX2Available()
	c.useAMX = amxAvailable()
	c.amxConfig = amxConfig()
	c.amx.cpu = c
	return c
}

// Name implements Backend: the kernels in use and the worker count, e.g.
// "cpu-avx512+gemm512+x16 x2" (x16: quantized weights repacked for decode).
func (c *CPU) Name() string {
	gemm := ""
	if c.useGEMM {
		gemm = "+gemm512"
	}
	if c.useGEMM2 {
		gemm = "+gemm256"
	}
	if c.useAMX {
		gemm += "+amx-bf16"
	}
	if c.packedBytes > 0 {
		gemm += "+x16"
	}
	return fmt.Sprintf("cpu-%s%s x%d", kernelName(), gemm, c.pool.Workers())
}

// Threads is the number of workers.
func (c *CPU) Threads() int { return c.pool.Workers() }

// Close implements Backend.
func (c *CPU) Close() { c.pool.Close() }

// ensureScratch gives every worker at least n floats of scratch. It rounds
// up to a power of two (at least 4096), so attention's growing context
// reallocates only a few times per generation.
func (c *CPU) ensureScratch(n int) {
	if len(c.scratch[0]) >= n {
		return
	}
	size := 4096
	for size < n {
		size *= 2
	}
	for i := range c.scratch {
		c.scratch[i] = make([]float32, size)
	}
}

// MatMul implements Backend.
func (c *CPU) MatMul(out, x []float32, n int, w Matrix, bias []float32) {
	if usesPanels(w, n) && !c.amxUsable(w, n) {
		c.quantPanelMatMul(out, x, n, w, bias)
		return
	}
	// Repacked weights take the x16 kernels below panelMinTokens
	// (plan.go); the tiles read the stored rows.
	if n >= tileMinTokens && usesTiles(w) && w.x16 == nil && !c.amxUsable(w, n) {
		c.quantTileMatMul(out, x, n, w, bias)
		return
	}
	if p, ok := c.plan(&c.direct[0], c.direct[0].acts, c.nextGen(), out, x, n, w, bias); ok {
		c.pool.Parallel(p.items, p.grain, p.task)
		c.direct[0].release()
		return
	}
	if c.amxUsable(w, n) {
		c.matMulAMX(out, x, n, w, bias)
		return
	}
	// The packed-panel GEMM; quantized rows are decoded into the worker's
	// scratch first (a panel's rows at a time, never the whole matrix).
	if (c.useGEMM || c.useGEMM2) && n >= gemmMinTokens {
		g := &c.gemm
		g.out, g.x, g.n, g.w, g.bias, g.avx2 = out[:n*w.Rows], x[:n*w.Cols], n, w, bias, c.useGEMM2
		width := gemmRows
		if g.avx2 {
			width = avx2Rows
			c.ensureScratch(gemmScratchAVX2(w.Cols) + gemmDecodeScratch(w, avx2Rows))
		} else {
			c.ensureScratch(gemmRows*w.Cols + gemmDecodeScratch(w, gemmRows))
		}
		panels := (w.Rows + width - 1) / width
		c.pool.Parallel(panels, max(1, panels/(4*c.pool.Workers())), g)
		g.out, g.x, g.bias = nil, nil, nil
		g.w = Matrix{}
		return
	}
	t := &c.matMat
	t.out, t.x, t.n, t.w, t.bias = out[:n*w.Rows], x[:n*w.Cols], n, w, bias
	if w.DType != F32 {
		c.ensureScratch(4 * w.Cols)
	}
	blocks := (w.Rows + 3) / 4
	c.pool.Parallel(blocks, max(1, blocks/(8*c.pool.Workers())), t)
	t.out, t.x, t.bias = nil, nil, nil
	t.w = Matrix{}
}

type matVecTask struct {
	cpu    *CPU
	out, x []float32
	w      Matrix
	bias   []float32
}

func (t *matVecTask) Run(worker, lo, hi int) {
	cols := t.w.Cols
	switch t.w.DType {
	case BF16:
		// Four sequential streams, one per quarter of the chunk.
		w := u16s(t.w.Data)
		row := func(r int) []uint16 { return w[r*cols : (r+1)*cols] }
		q := (hi - lo) / 4
		var o [4]float32
		for j := lo; j < lo+q; j++ {
			dotBF16x4(o[:], row(j), row(j+q), row(j+2*q), row(j+3*q), t.x)
			t.out[j], t.out[j+q], t.out[j+2*q], t.out[j+3*q] = o[0], o[1], o[2], o[3]
		}
		for r := lo + 4*q; r < hi; r++ {
			t.out[r] = dotBF16(row(r), t.x)
		}
	case F32:
		w := f32s(t.w.Data)
		row := func(r int) []float32 { return w[r*cols : (r+1)*cols] }
		q := (hi - lo) / 4
		var o [4]float32
		for j := lo; j < lo+q; j++ {
			dotF32x4(o[:], row(j), row(j+q), row(j+2*q), row(j+3*q), t.x)
			t.out[j], t.out[j+q], t.out[j+2*q], t.out[j+3*q] = o[0], o[1], o[2], o[3]
		}
		for r := lo + 4*q; r < hi; r++ {
			t.out[r] = dotF32(row(r), t.x)
		}
	case F16:
		row := t.cpu.scratch[worker][:cols]
		for r := lo; r < hi; r++ {
			WidenRow(row, t.w, r)
			t.out[r] = dotF32(row, t.x)
		}
	}
	if t.bias != nil {
		for r := lo; r < hi; r++ {
			t.out[r] += t.bias[r]
		}
	}
}

type matMatTask struct {
	cpu    *CPU
	out, x []float32
	n      int
	w      Matrix
	bias   []float32
}

// Run handles row blocks [lo, hi) of 4 weight rows each: it widens the block
// once into the worker's scratch, then sweeps every token through it with the
// 4x2 micro-kernel.
func (t *matMatTask) Run(worker, lo, hi int) {
	cols, rows, n := t.w.Cols, t.w.Rows, t.n
	var acc [8]float32
	var wr [4][]float32
	for b := lo; b < hi; b++ {
		r0 := 4 * b
		nr := min(4, rows-r0)
		if t.w.DType == F32 {
			all := f32s(t.w.Data)
			for k := 0; k < nr; k++ {
				wr[k] = all[(r0+k)*cols : (r0+k+1)*cols]
			}
		} else {
			s := t.cpu.scratch[worker]
			for k := 0; k < nr; k++ {
				wr[k] = s[k*cols : (k+1)*cols]
				WidenRow(wr[k], t.w, r0+k)
			}
		}
		tok := 0
		if nr == 4 {
			for ; tok+2 <= n; tok += 2 {
				x := t.x[tok*cols:]
				dot4x2(&acc, wr[0], wr[1], wr[2], wr[3], x[:cols], x[cols:2*cols])
				for tt := 0; tt < 2; tt++ {
					copy(t.out[(tok+tt)*rows+r0:(tok+tt)*rows+r0+4], acc[4*tt:4*tt+4])
				}
			}
		}
		for ; tok < n; tok++ {
			x := t.x[tok*cols : (tok+1)*cols]
			for k := 0; k < nr; k++ {
				t.out[tok*rows+r0+k] = dotF32(wr[k], x)
			}
		}
		if t.bias != nil {
			for tok := 0; tok < n; tok++ {
				o := t.out[tok*rows+r0 : tok*rows+r0+nr]
				for k := range o {
					o[k] += t.bias[r0+k]
				}
			}
		}
	}
}

// Embed implements Backend.
func (c *CPU) Embed(out []float32, table Matrix, ids []int) {
	for t, id := range ids {
		WidenRow(out[t*table.Cols:(t+1)*table.Cols], table, id)
	}
}

// rowsParallel is the token count from which the element-wise operations
// (norms, RoPE, residual adds) split their rows over the workers: in prefill
// they would otherwise run on one core while the other idles.
const rowsParallel = 32

// RMSNorm implements Backend.
func (c *CPU) RMSNorm(out, x []float32, n int, weight []float32, eps float32) {
	t := &c.norm
	t.out, t.x, t.weight, t.eps = out, x, weight, eps
	c.rows(n, t)
	t.out, t.x, t.weight = nil, nil, nil
}

type normTask struct {
	out, x, weight []float32
	eps            float32
}

func (t *normTask) Run(_, lo, hi int) {
	d := len(t.weight)
	for r := lo; r < hi; r++ {
		xs := t.x[r*d : (r+1)*d]
		ss := dotF32(xs, xs)
		scale := float32(1 / math.Sqrt(float64(ss/float32(d)+t.eps)))
		scaleMulF32(t.out[r*d:(r+1)*d], xs, t.weight, scale)
	}
}

// rows runs t over n token rows: inline for few rows, else on the pool.
func (c *CPU) rows(n int, t Task) {
	if n < rowsParallel {
		t.Run(0, 0, n)
		return
	}
	c.pool.Parallel(n, max(1, n/(4*c.pool.Workers())), t)
}

// RoPE implements Backend.
func (c *CPU) RoPE(x []float32, n, heads, headDim, rotDim, pos0 int, cos, sin []float32) {
	t := &c.rope
	t.x, t.heads, t.headDim, t.rotDim, t.pos0, t.cos, t.sin = x, heads, headDim, rotDim, pos0, cos, sin
	c.rows(n, t)
	t.x, t.cos, t.sin = nil, nil, nil
}

type ropeTask struct {
	x                            []float32
	heads, headDim, rotDim, pos0 int
	cos, sin                     []float32
}

func (t *ropeTask) Run(_, lo, hi int) {
	half := t.rotDim / 2
	for r := lo; r < hi; r++ {
		cs := t.cos[(t.pos0+r)*half : (t.pos0+r+1)*half]
		sn := t.sin[(t.pos0+r)*half : (t.pos0+r+1)*half]
		for h := range t.heads {
			v := t.x[(r*t.heads+h)*t.headDim:]
			rotate(v[:half], v[half:t.rotDim], cs, sn)
		}
	}
}

// Add implements Backend.
func (c *CPU) Add(dst, src []float32) {
	src = src[:len(dst)]
	// Split by 1024-element blocks: rows are not known here.
	blocks := (len(dst) + 1023) / 1024
	if blocks < rowsParallel {
		addF32(dst, src)
		return
	}
	t := &c.add
	t.dst, t.src = dst, src
	c.pool.Parallel(blocks, max(1, blocks/(4*c.pool.Workers())), t)
	t.dst, t.src = nil, nil
}

type addTask struct{ dst, src []float32 }

func (t *addTask) Run(_, lo, hi int) {
	addF32(t.dst[lo*1024:min(hi*1024, len(t.dst))], t.src[lo*1024:min(hi*1024, len(t.src))])
}

// SwiGLU implements Backend.
func (c *CPU) SwiGLU(gate, up []float32) {
	t := &c.swiglu
	t.gate, t.up = gate, up[:len(gate)]
	c.pool.Parallel(len(gate), max(256, len(gate)/(4*c.pool.Workers())), t)
	t.gate, t.up = nil, nil
}

type swigluTask struct{ gate, up []float32 }

func (t *swigluTask) Run(_, lo, hi int) {
	swiglu(t.gate[lo:hi], t.up[lo:hi])
}

// workerStats accumulates one worker's deep-depth attention measurements,
// padded so two workers never share a cache line.
type workerStats struct {
	AttentionStats
	_ [64]byte
}

// Attend implements Backend.
func (c *CPU) Attend(a *Attention) {
	if a.Stats != nil {
		for i := range c.workers {
			c.workers[i].AttentionStats = AttentionStats{}
		}
	}
	if c.useGEMM && a.N >= gemmMinTokens {
		c.ensureScratch(scratchForBatched(a))
		t := &c.attendB
		t.a, t.nb = a, (a.N+attnQueryBlock-1)/attnQueryBlock
		c.pool.Parallel(a.Heads*t.nb, 1, t)
		t.a = nil
	} else {
		c.ensureScratch(a.Pos0 + a.N)
		t := &c.attend
		t.a = a
		c.pool.Parallel(a.N*a.Heads, 1, t)
		t.a = nil
	}
	if a.Stats != nil {
		var ns int64
		for i := range c.workers {
			w := &c.workers[i].AttentionStats
			a.Stats.Rows += w.Rows
			a.Stats.EntropySum += w.EntropySum
			a.Stats.Weights += w.Weights
			a.Stats.Small += w.Small
			ns += w.SoftmaxNs
		}
		a.Stats.SoftmaxNs += ns / int64(len(c.workers))
	}
}

type attendTask struct {
	cpu *CPU
	a   *Attention
}

// Run computes items [lo, hi), item k being query k/Heads and head k%Heads.
func (t *attendTask) Run(worker, lo, hi int) {
	a := t.a
	hd, kvDim := a.HeadDim, a.KVHeads*a.HeadDim
	group := a.Heads / a.KVHeads
	scores := t.cpu.scratch[worker]
	var st *AttentionStats
	if a.Stats != nil {
		st = &t.cpu.workers[worker].AttentionStats
	}
	for k := lo; k < hi; k++ {
		q, h := k/a.Heads, k%a.Heads
		pos := a.Pos0 + q
		first := 0
		if a.Window > 0 {
			first = max(0, pos-a.Window+1)
		}
		qv := a.Q[(q*a.Heads+h)*hd : (q*a.Heads+h+1)*hd]
		koff := (h / group) * hd
		s := scores[first : pos+1]
		if !attendScores(s, qv, a.K[first*kvDim+koff:], kvDim, a.Scale) {
			for j := range s {
				p := (first + j) * kvDim
				s[j] = dotF32(qv, a.K[p+koff:p+koff+hd]) * a.Scale
			}
		}
		var t0 int64
		if st != nil {
			t0 = clock.Now()
		}
		softmax(s)
		if st != nil {
			st.SoftmaxNs += clock.Now() - t0
			rowStats(st, s)
		}
		out := a.Out[(q*a.Heads+h)*hd : (q*a.Heads+h+1)*hd]
		if !attendWeighted(out, s, a.V[first*kvDim+koff:], kvDim) {
			clear(out)
			for j, p := range s {
				off := (first+j)*kvDim + koff
				axpy(out, p, a.V[off:off+hd])
			}
		}
	}
}

// softmax normalises x in place, subtracting the max first for stability.
func softmax(x []float32) { softmaxScaled(x, 1) }

// NewBandwidthBuffer returns a buffer of about bytes bytes for ReadBandwidth,
// filled with non-zero data so every page is really backed by memory.
func NewBandwidthBuffer(bytes int) []float32 {
	buf := make([]float32, bytes/4)
	for i := range buf {
		buf[i] = float32(i&1023) * 0.5
	}
	return buf
}

// ReadBandwidth reads buf once on all workers with the access pattern of the
// mat-vec kernels (four sequential streams per worker) and returns the
// achieved bytes per second: the bandwidth a decode step can hope for. Use a
// buffer much larger than the last-level cache (≥ 256 MiB).
func (c *CPU) ReadBandwidth(buf []float32) float64 {
	t := &readTask{buf: buf, ones: make([]float32, readChunk), sums: make([]float32, c.pool.Workers()*16)}
	for i := range t.ones {
		t.ones[i] = 1
	}
	rows := len(buf) / readChunk
	start := clock.Now()
	c.pool.Parallel(rows, max(16, rows/(4*c.pool.Workers())), t)
	ns := clock.Now() - start
	return float64(rows*readChunk*4) / (float64(ns) / 1e9)
}

const readChunk = 2048

type readTask struct {
	buf, ones, sums []float32
}

func (t *readTask) Run(worker, lo, hi int) {
	row := func(r int) []float32 { return t.buf[r*readChunk : (r+1)*readChunk] }
	q := (hi - lo) / 4
	var o [4]float32
	var s float32
	for j := lo; j < lo+q; j++ {
		dotF32x4(o[:], row(j), row(j+q), row(j+2*q), row(j+3*q), t.ones)
		s += o[0] + o[1] + o[2] + o[3]
	}
	for r := lo + 4*q; r < hi; r++ {
		s += dotF32(row(r), t.ones)
	}
	t.sums[worker*16] += s // keeps the reads from being optimised away
}

// PeakKind selects the instruction a peak loop runs.
type PeakKind int

const (
	PeakFMA     PeakKind = iota // float32 FMA, VFMADD231PS on 16 lanes: the float32 GEMM's ceiling
	PeakBF16Dot                 // VDPBF16PS (AVX512-BF16): the ceiling of a kernel that rounds activations to bf16, as llama.cpp's does
	PeakAMX                     // TDPBF16PS (AMX-BF16 tile multiply); the AMX GEMM runs three per product (bf16 planes), so it can reach a third
)

func (k PeakKind) String() string {
	return [...]string{"fma", "bf16dot", "amx"}[k]
}

// ComputePeak runs a register-only loop of the kind's instruction on every
// worker at once and returns the machine's achieved GFLOP/s, the ceiling
// prefill is measured against; 0 where this CPU or build lacks it.
func (c *CPU) ComputePeak(kind PeakKind) float64 {
	iters := 1 << 16
	if kind == PeakAMX {
		iters = 1 << 11 // each iteration is four 16-cycle tile products
	}
	t := &peakTask{kind: kind, iters: iters, flops: make([]float64, c.pool.Workers()*8)}
	start := clock.Now()
	c.pool.Parallel(8*c.pool.Workers(), 1, t)
	ns := clock.Now() - start
	var flops float64
	for i := 0; i < len(t.flops); i += 8 {
		flops += t.flops[i]
	}
	return flops / float64(ns)
}

// PeakFLOPs runs n iterations of the kind's peak loop on the calling
// goroutine and returns the flops done (0 where this CPU or build lacks
// it). Time it with the calling thread's CPU time for a ceiling that other
// processes' load does not disturb.
func PeakFLOPs(n int, kind PeakKind) float64 { return peakLoop(n, kind) }

type peakTask struct {
	kind  PeakKind
	iters int
	flops []float64 // per worker, 8 apart to keep workers' lines apart
}

func (t *peakTask) Run(worker, lo, hi int) {
	for range hi - lo {
		t.flops[worker*8] += peakLoop(t.iters, t.kind)
	}
}
