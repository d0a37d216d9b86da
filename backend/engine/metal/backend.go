package metal

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/compute"
)

// Backend is the compute.Backend that runs on a Metal device. Operations
// are recorded into one Batch and run by Flush, so a forward pass is one
// command buffer (an MoE layer adds one for its router). It is used by one
// goroutine at a time, like every compute.Backend.
type Backend struct {
	dev  Device
	name string

	allocs  []allocation        // Alloc'd buffers, sorted by address
	consts  map[memKey]constant // host vectors copied once (norm weights, biases, RoPE tables)
	weights map[memKey]Binding  // matrices, wrapped in place where possible
	kept    [][]float32         // constants' host slices, kept alive with their keys
	stats   WeightStats

	batch Batch
	open  bool   // the last pass takes more dispatches
	args  []byte // argument bytes of this batch
	err   error  // the first failure since the last Flush

	upload   arenas // host data the kernels read (ids, rows, routing weights)
	readback arenas // results the CPU reads after the batch (probes, attention statistics)
	probes   []pendingProbe
	attns    []pendingAttention

	seq      int64   // batches flushed so far
	marks    []int   // per mark of this batch: the pass boundary it stands at
	times    []int64 // clock.Now() times of the last flushed batch's marks
	flushed  int64   // clock.Now() when the last batch finished
	clockMap clockMap
}

// WeightStats says how the weights reached the GPU.
type WeightStats struct {
	Wrapped, Copied           int   // matrices wrapped in place, copied
	WrappedBytes, CopiedBytes int64 // their bytes
}

type allocation struct {
	base uintptr
	n    int
	id   BufferID
}

type memKey struct {
	p uintptr
	n int
}

type constant struct{ bind Binding }

type pendingProbe struct {
	p   *compute.Probe
	mem []byte // ProbeFloats float32 results
}

type pendingAttention struct {
	st      *compute.AttentionStats
	mem     []byte // n·heads (entropy, small) float32 pairs
	rows    int
	weights int
}

// New compiles the kernels on dev and returns a backend that runs on it.
// The backend owns dev and closes it.
func New(dev Device) (*Backend, error) {
	names := make([]string, numKernels)
	copy(names, Kernels[:])
	if err := dev.Compile(Source, names); err != nil {
		dev.Close()
		return nil, fmt.Errorf("metal: compile kernels: %w", err)
	}
	return &Backend{
		dev: dev, name: "metal (" + dev.Name() + ")",
		consts: map[memKey]constant{}, weights: map[memKey]Binding{},
	}, nil
}

// Name implements compute.Backend.
func (b *Backend) Name() string { return b.name }

// DeviceName is the GPU's name.
func (b *Backend) DeviceName() string { return b.dev.Name() }

// Weights reports how many weight matrices were wrapped in place and how
// many had to be copied.
func (b *Backend) Weights() WeightStats { return b.stats }

// Close implements compute.Backend.
func (b *Backend) Close() { b.dev.Close() }

// Supports reports whether the backend has kernels for weights of type dt
// (the engine asks before it builds a model on it).
func (b *Backend) Supports(dt compute.DType) bool {
	_, err := mulMVKernel(dt)
	return err == nil
}

// fail remembers the first failure; Flush reports it.
func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// ---- memory -----------------------------------------------------------------

// Alloc implements compute.Backend: a shared buffer the CPU sees as n
// float32s.
func (b *Backend) Alloc(n int) []float32 {
	id, mem, err := b.dev.NewBuffer(max(4*n, 16))
	if err != nil {
		b.fail(fmt.Errorf("metal: allocate %d floats: %w", n, err))
		return make([]float32, n) // unusable by kernels: the next Flush reports err
	}
	x := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	a := allocation{base: addr(x), n: len(mem), id: id}
	i := sort.Search(len(b.allocs), func(i int) bool { return b.allocs[i].base > a.base })
	b.allocs = append(b.allocs, allocation{})
	copy(b.allocs[i+1:], b.allocs[i:])
	b.allocs[i] = a
	return x
}

func addr(x []float32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(x))) }

// lookup finds x inside an Alloc'd buffer.
func (b *Backend) lookup(x []float32) (Binding, bool) {
	p := addr(x)
	i := sort.Search(len(b.allocs), func(i int) bool { return b.allocs[i].base > p }) - 1
	if i < 0 {
		return Binding{}, false
	}
	a := b.allocs[i]
	off := int(p - a.base)
	if off+4*len(x) > a.n {
		return Binding{}, false
	}
	return Binding{Buf: a.id, Off: off}, true
}

// act binds an activation: it must be Alloc'd memory, since the kernels
// write it and the CPU reads it after the Flush.
func (b *Backend) act(x []float32, what string) Binding {
	if len(x) == 0 && cap(x) == 0 {
		b.fail(fmt.Errorf("metal: %s is empty", what))
		return Binding{}
	}
	bind, ok := b.lookup(x)
	if !ok {
		b.fail(fmt.Errorf("metal: %s is not memory from Backend.Alloc (the engine must allocate activations through its backend)", what))
	}
	return bind
}

// vec binds read-only float32 data: Alloc'd memory as it is, any other
// (norm weights, biases, RoPE tables) copied to the GPU once. Such data must
// not change once used, as compute.Backend requires of weights.
func (b *Backend) vec(x []float32) Binding {
	if bind, ok := b.lookup(x); ok {
		return bind
	}
	k := memKey{addr(x), len(x)}
	if c, ok := b.consts[k]; ok {
		return c.bind
	}
	id, mem, err := b.dev.NewBuffer(max(4*len(x), 16))
	if err != nil {
		b.fail(fmt.Errorf("metal: copy %d weights: %w", len(x), err))
		return Binding{}
	}
	copy(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(mem))), len(x)), x)
	c := constant{bind: Binding{Buf: id}}
	b.consts[k] = c
	b.kept = append(b.kept, x)
	return c.bind
}

// matrix binds a weight matrix where it lies: the page span around its
// bytes (memory-mapped from the model file) is wrapped without copying.
// Where the device refuses (memory it cannot wrap), the bytes are copied
// once.
func (b *Backend) matrix(m compute.Matrix) Binding {
	if err := m.Check(); err != nil {
		b.fail(fmt.Errorf("metal: %w", err))
		return Binding{}
	}
	k := memKey{uintptr(unsafe.Pointer(unsafe.SliceData(m.Data))), len(m.Data)}
	if bind, ok := b.weights[k]; ok {
		return bind
	}
	id, off, err := b.dev.WrapBuffer(m.Data)
	if err == nil {
		b.stats.Wrapped++
		b.stats.WrappedBytes += int64(len(m.Data))
	} else {
		var mem []byte
		if id, mem, err = b.dev.NewBuffer(len(m.Data)); err != nil {
			b.fail(fmt.Errorf("metal: weights of %d bytes: %w", len(m.Data), err))
			return Binding{}
		}
		copy(mem, m.Data)
		off = 0
		b.stats.Copied++
		b.stats.CopiedBytes += int64(len(m.Data))
	}
	bind := Binding{Buf: id, Off: off}
	b.weights[k] = bind
	return bind
}

// arenas hand out pieces of shared buffers for one batch; reset reuses them.
type arenas struct {
	list []arena
	cur  int
}

type arena struct {
	id   BufferID
	mem  []byte
	used int
}

const arenaSize = 64 << 10

// take returns n bytes (16-byte aligned) valid until the next reset.
func (a *arenas) take(dev Device, n int) (Binding, []byte, error) {
	n = (n + 15) &^ 15
	for ; a.cur < len(a.list); a.cur++ {
		ar := &a.list[a.cur]
		if ar.used+n <= len(ar.mem) {
			off := ar.used
			ar.used += n
			return Binding{Buf: ar.id, Off: off}, ar.mem[off : off+n], nil
		}
	}
	id, mem, err := dev.NewBuffer(max(arenaSize, n))
	if err != nil {
		return Binding{}, nil, err
	}
	a.list = append(a.list, arena{id: id, mem: mem, used: n})
	return Binding{Buf: id}, mem[:n], nil
}

func (a *arenas) reset() {
	for i := range a.list {
		a.list[i].used = 0
	}
	a.cur = 0
}

// uploadU32 copies ints into the upload arena as uint32s.
func (b *Backend) uploadU32(v []int, what string) Binding {
	bind, mem, err := b.upload.take(b.dev, 4*max(len(v), 1))
	if err != nil {
		b.fail(fmt.Errorf("metal: upload %s: %w", what, err))
		return Binding{}
	}
	for i, x := range v {
		if x < 0 || x > math.MaxUint32 {
			b.fail(fmt.Errorf("metal: %s[%d] = %d is out of range", what, i, x))
		}
		putU32(mem[4*i:], uint32(x))
	}
	return bind
}

func (b *Backend) uploadF32(v []float32, what string) Binding {
	bind, mem, err := b.upload.take(b.dev, 4*max(len(v), 1))
	if err != nil {
		b.fail(fmt.Errorf("metal: upload %s: %w", what, err))
		return Binding{}
	}
	for i, x := range v {
		putU32(mem[4*i:], math.Float32bits(x))
	}
	return bind
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func f32At(b []byte, i int) float32 {
	return math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
}

// ---- recording ---------------------------------------------------------------

// dispatch records one kernel launch in the open pass.
func (b *Backend) dispatch(k Kernel, args any, groups, threads [3]int, bufs ...Binding) {
	if b.err != nil {
		return // the batch is already lost; Flush reports why
	}
	if !b.open || len(b.batch.Passes) == 0 {
		b.batch.Passes = append(b.batch.Passes, Pass{})
		b.open = true
	}
	start := len(b.args)
	b.args = packArgs(b.args, args)
	p := &b.batch.Passes[len(b.batch.Passes)-1]
	p.Dispatches = append(p.Dispatches, Dispatch{
		Kernel: int(k), Args: b.args[start:len(b.args):len(b.args)],
		Buffers: bufs, Groups: groups, Threads: threads,
	})
}

// MatMul implements compute.Backend.
func (b *Backend) MatMul(out, x []float32, n int, w compute.Matrix, bias []float32) {
	k, err := mulMVKernel(w.DType)
	if err != nil {
		b.fail(err)
		return
	}
	if n < 1 || len(x) < n*w.Cols || len(out) < n*w.Rows || (bias != nil && len(bias) < w.Rows) {
		b.fail(fmt.Errorf("metal: MatMul of %d positions on a %dx%d matrix: slices too short", n, w.Rows, w.Cols))
		return
	}
	wb, xb, ob := b.matrix(w), b.act(x, "MatMul input"), b.act(out, "MatMul output")
	bb, hasBias := ob, uint32(0) // an unused bias slot still gets a valid buffer
	if bias != nil {
		bb, hasBias = b.vec(bias[:w.Rows]), 1
	}
	g, t := mulMVGrid(w.Rows, n)
	b.dispatch(k, MulMVArgs{Rows: u32(w.Rows), Cols: u32(w.Cols), N: u32(n), HasBias: hasBias}, g, t, wb, xb, ob, bb)
}

func u32(v int) uint32 { return uint32(v) }

// Embed implements compute.Backend.
func (b *Backend) Embed(out []float32, table compute.Matrix, ids []int) {
	k, err := embedKernel(table.DType)
	if err != nil {
		b.fail(err)
		return
	}
	for _, id := range ids {
		if id < 0 || id >= table.Rows {
			b.fail(fmt.Errorf("metal: token id %d outside the %d-row embedding", id, table.Rows))
			return
		}
	}
	g, t := rowsGrid(table.Cols, len(ids))
	b.dispatch(k, EmbedArgs{Cols: u32(table.Cols), N: u32(len(ids))}, g, t,
		b.matrix(table), b.uploadU32(ids, "token ids"), b.act(out[:len(ids)*table.Cols], "embedding output"))
}

// RMSNorm implements compute.Backend.
func (b *Backend) RMSNorm(out, x []float32, n int, weight []float32, eps float32) {
	d := len(weight)
	b.dispatch(KRMSNorm, RMSNormArgs{Dim: u32(d), Rows: u32(n), Eps: eps},
		[3]int{n, 1, 1}, [3]int{NormThreads, 1, 1},
		b.act(x[:n*d], "RMSNorm input"), b.vec(weight), b.act(out[:n*d], "RMSNorm output"))
}

// RoPE implements compute.Backend.
func (b *Backend) RoPE(x []float32, n, heads, headDim, rotDim, pos0 int, cos, sin []float32) {
	half := rotDim / 2
	if len(cos) < (pos0+n)*half || len(sin) < (pos0+n)*half {
		b.fail(fmt.Errorf("metal: RoPE tables hold %d positions, want %d", len(cos)/max(half, 1), pos0+n))
		return
	}
	g, t := linearGrid(n * heads * half)
	b.dispatch(KRoPE, RoPEArgs{N: u32(n), Heads: u32(heads), HeadDim: u32(headDim), RotDim: u32(rotDim), Pos0: u32(pos0)}, g, t,
		b.act(x[:n*heads*headDim], "RoPE input"), b.vec(cos), b.vec(sin))
}

// Attend implements compute.Backend. Deep statistics (a.Stats) are written
// per (query, head) by the kernel and summed at Flush; the softmax has no
// clock of its own on the GPU (SoftmaxUntimed).
func (b *Backend) Attend(a *compute.Attention) {
	if a.HeadDim > AttMaxHeadDim || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 {
		b.fail(fmt.Errorf("metal: attention with %d heads of %d over %d KV heads is not supported (head_dim ≤ %d)", a.Heads, a.HeadDim, a.KVHeads, AttMaxHeadDim))
		return
	}
	kvDim := a.KVHeads * a.HeadDim
	q := b.act(a.Q[:a.N*a.Heads*a.HeadDim], "attention queries")
	k := b.act(a.K[:(a.Pos0+a.N)*kvDim], "key cache")
	v := b.act(a.V[:(a.Pos0+a.N)*kvDim], "value cache")
	out := b.act(a.Out[:a.N*a.Heads*a.HeadDim], "attention output")
	stats, want := out, uint32(0)
	if a.Stats != nil {
		bind, mem, err := b.readback.take(b.dev, 8*a.N*a.Heads)
		if err != nil {
			b.fail(fmt.Errorf("metal: attention statistics: %w", err))
			return
		}
		stats, want = bind, 1
		weights := 0
		for t := range a.N {
			pos := a.Pos0 + t
			first := 0
			if a.Window > 0 {
				first = max(0, pos-a.Window+1)
			}
			weights += (pos - first + 1) * a.Heads
		}
		b.attns = append(b.attns, pendingAttention{st: a.Stats, mem: mem, rows: a.N * a.Heads, weights: weights})
	}
	b.dispatch(KAttention, AttentionArgs{
		N: u32(a.N), Pos0: u32(a.Pos0), Heads: u32(a.Heads), KVHeads: u32(a.KVHeads), HeadDim: u32(a.HeadDim),
		Window: u32(max(a.Window, 0)), Scale: a.Scale, Stats: want,
	}, [3]int{a.Heads, a.N, 1}, [3]int{AttThreads, 1, 1}, q, k, v, out, stats)
}

// SwiGLU implements compute.Backend.
func (b *Backend) SwiGLU(gate, up []float32) { b.glu(KSwiGLU, gate, up) }

// GeGLU implements compute.Backend.
func (b *Backend) GeGLU(gate, up []float32) { b.glu(KGeGLU, gate, up) }

func (b *Backend) glu(k Kernel, gate, up []float32) {
	g, t := linearGrid(len(gate))
	b.dispatch(k, EltArgs{N: u32(len(gate))}, g, t, b.act(gate, "gate"), b.act(up[:len(gate)], "up"))
}

// Scale implements compute.Backend.
func (b *Backend) Scale(x []float32, s float32) {
	g, t := linearGrid(len(x))
	b.dispatch(KScale, EltArgs{N: u32(len(x)), S: s}, g, t, b.act(x, "Scale input"))
}

// Add implements compute.Backend.
func (b *Backend) Add(dst, src []float32) { b.AddScaled(dst, src, 1) }

// AddScaled implements compute.Backend.
func (b *Backend) AddScaled(dst, src []float32, s float32) {
	g, t := linearGrid(len(dst))
	b.dispatch(KAddScaled, EltArgs{N: u32(len(dst)), S: s}, g, t, b.act(dst, "Add destination"), b.act(src[:len(dst)], "Add source"))
}

// Gather implements compute.Backend.
func (b *Backend) Gather(dst, src []float32, rows []int, width int) {
	if len(rows) == 0 {
		return
	}
	g, t := rowsGrid(width, len(rows))
	b.dispatch(KGatherRows, RowsArgs{Width: u32(width), Count: u32(len(rows))}, g, t,
		b.act(src, "Gather source"), b.uploadU32(rows, "rows"), b.act(dst[:len(rows)*width], "Gather destination"))
}

// ScatterAdd implements compute.Backend.
func (b *Backend) ScatterAdd(dst, src []float32, rows []int, weights []float32, width int) {
	if len(rows) == 0 {
		return
	}
	g, t := rowsGrid(width, len(rows))
	b.dispatch(KScatterAdd, RowsArgs{Width: u32(width), Count: u32(len(rows))}, g, t,
		b.act(src[:len(rows)*width], "ScatterAdd source"), b.uploadU32(rows, "rows"),
		b.uploadF32(weights[:len(rows)], "routing weights"), b.act(dst, "ScatterAdd destination"))
}

// Probe implements compute.Backend: one threadgroup reduces x into five
// floats that Flush turns into p's results. Sums are float32 on the GPU
// (the CPU sums in float64), which statistics of activations tolerate.
func (b *Backend) Probe(p *compute.Probe, x []float32) {
	if len(x) == 0 {
		*p = compute.Probe{Small: p.Small, CountNegative: p.CountNegative}
		return
	}
	bind, mem, err := b.readback.take(b.dev, 4*ProbeFloats)
	if err != nil {
		b.fail(fmt.Errorf("metal: probe: %w", err))
		return
	}
	b.dispatch(KProbe, ProbeArgs{N: u32(len(x)), Small: p.Small}, [3]int{1, 1, 1}, [3]int{ProbeThreads, 1, 1},
		b.act(x, "probed tensor"), bind)
	b.probes = append(b.probes, pendingProbe{p: p, mem: mem})
	p.N = len(x)
}

// ---- marks and flush --------------------------------------------------------

// Mark implements compute.Backend. It closes the open pass, so the
// operations after it start a new compute encoder whose start and end the
// GPU timestamps; the mark stands at that boundary.
func (b *Backend) Mark() compute.Mark {
	b.open = false
	b.marks = append(b.marks, len(b.batch.Passes))
	return compute.Mark(b.seq<<32 | int64(len(b.marks)-1))
}

// Time implements compute.Backend: the clock.Now() time the GPU reached the
// mark, valid after the Flush that ran its batch. A mark at the boundary of
// two passes is the end of the earlier one, so consecutive components share
// their boundary, and the first mark of a batch is the start of its first
// pass.
func (b *Backend) Time(m compute.Mark) int64 {
	seq, i := int64(m)>>32, int(int64(m)&0xffffffff)
	if seq != b.seq-1 || i >= len(b.times) {
		return b.flushed
	}
	return b.times[i]
}

// Flush implements compute.Backend.
func (b *Backend) Flush() error {
	defer b.reset()
	if b.err != nil {
		return b.err
	}
	var tm Timing
	if len(b.batch.Passes) > 0 {
		b.batch.Timed = len(b.marks) > 0
		var err error
		if tm, err = b.dev.Run(&b.batch); err != nil {
			return fmt.Errorf("metal: %w", err)
		}
	}
	b.flushed = clock.Now()
	for _, c := range tm.Clocks {
		b.clockMap.add(c)
	}
	b.resolveMarks(tm)
	for _, pp := range b.probes {
		p := pp.p
		p.Sum, p.SumSq = float64(f32At(pp.mem, 0)), float64(f32At(pp.mem, 1))
		p.MaxAbs = f32At(pp.mem, 2)
		p.Below, p.Negative = int(f32At(pp.mem, 3)), 0
		if p.CountNegative {
			p.Negative = int(f32At(pp.mem, 4))
		}
	}
	for _, pa := range b.attns {
		st := pa.st
		st.Rows += pa.rows
		st.Weights += pa.weights
		st.SoftmaxUntimed = true
		for r := range pa.rows {
			st.EntropySum += float64(f32At(pa.mem, 2*r))
			st.Small += int(f32At(pa.mem, 2*r+1))
		}
	}
	return nil
}

// resolveMarks turns this batch's marks into clock.Now() times.
func (b *Backend) resolveMarks(tm Timing) {
	b.times = b.times[:0]
	for _, k := range b.marks {
		t := b.flushed
		switch {
		case len(tm.End) == 0 || len(tm.End) != len(b.batch.Passes):
			// untimed: every mark is the flush
		case k > 0:
			t = b.clockMap.mono(tm.End[k-1])
		case k < len(tm.Start):
			t = b.clockMap.mono(tm.Start[k])
		}
		b.times = append(b.times, t)
	}
}

func (b *Backend) reset() {
	b.batch.Passes = b.batch.Passes[:0]
	b.open = false
	b.args = b.args[:0]
	b.err = nil
	b.upload.reset()
	b.readback.reset()
	clear(b.probes)
	b.probes = b.probes[:0]
	clear(b.attns)
	b.attns = b.attns[:0]
	b.marks = b.marks[:0]
	b.seq++
}

var _ compute.Backend = (*Backend)(nil)

// ErrNoDevice is returned (wrapped) where there is no Metal device.
var ErrNoDevice = errors.New("no Metal device")
