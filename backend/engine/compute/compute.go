// Package compute owns the numeric kernels of the inference engine behind a
// small Backend interface: matrix products over weights kept in their stored
// precision, normalisation, rotary embeddings, attention and the MLP
// activation. The model code in package engine only talks to Backend, so a
// GPU backend (package engine/metal) plugs in without touching it.
//
// A GPU backend queues operations and runs them later, as one batch. Four
// methods make that explicit and cost the CPU backend nothing: Alloc hands
// out the memory operations work in, Flush runs what is queued and waits,
// Mark and Time bracket traced components on the device's own clock, and
// Probe measures activation statistics where the data lives (see "Batching"
// on Backend).
//
// The CPU backend runs on a persistent worker pool that spins during a forward
// pass instead of handing work through channels. On amd64 built with
// GOEXPERIMENT=simd its vector kernels use AVX-512 (or AVX2) through
// simd/archsimd; every other build uses portable scalar kernels with the same
// results up to float32 rounding. Prefill (many tokens at once) goes through
// generated assembly where the CPU has it, chosen at run time: the AMX-BF16
// tile multiply (amx.go), which keeps float32 accuracy by splitting values
// into bf16 planes; else a float32 GEMM on AVX-512, or on AVX2 (gemm.go);
// else the 4×2 dot-product kernels. Prefill attention runs on the AVX-512
// GEMM where there is one.
package compute

import "fmt"

// DType is the element type of a weight matrix as stored on disk.
type DType uint8

const (
	F32  DType = iota // IEEE float32
	F16               // IEEE half precision
	BF16              // bfloat16: the top 16 bits of a float32
)

// Size is the number of bytes of one element of a float type, and 0 for a
// block-quantized type (see RowBytes).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	if d.Quantized() {
		return d.quantName()
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Matrix is a row-major weight matrix in its stored precision. Data holds
// exactly Rows*DType.RowBytes(Cols) little-endian bytes (Rows*Cols*Size()
// for the float types; whole ggml blocks per row for the quantized ones),
// typically a view into a memory-mapped safetensors or GGUF file. A Matrix
// is never modified.
type Matrix struct {
	DType      DType
	Rows, Cols int
	Data       []byte

	// x16 is the same weights repacked by CPU.PackWeights for the decode
	// kernels of this CPU (quantx16.go); nil where they read Data.
	x16 *x16Weights
}

// Check reports whether m's byte length agrees with its shape.
func (m Matrix) Check() error {
	if m.Rows <= 0 || m.Cols <= 0 {
		return fmt.Errorf("matrix shape %dx%d is empty", m.Rows, m.Cols)
	}
	rb := m.DType.RowBytes(m.Cols)
	if rb < 0 {
		return fmt.Errorf("matrix %dx%d %s: rows are not whole blocks", m.Rows, m.Cols, m.DType)
	}
	if want := m.Rows * rb; len(m.Data) != want {
		return fmt.Errorf("matrix %dx%d %s has %d bytes, want %d", m.Rows, m.Cols, m.DType, len(m.Data), want)
	}
	return nil
}

// Attention describes one causal self-attention call over a KV cache.
//
// Q holds N query rows (positions Pos0 … Pos0+N-1), each Heads*HeadDim wide.
// K and V are the cache of one layer: row p (KVHeads*HeadDim wide) is the key or
// value at position p, and rows 0 … Pos0+N-1 are filled. Query head h reads
// KV head h/(Heads/KVHeads). A query at position i sees keys j with
// i-Window < j <= i when Window > 0, else all j <= i.
//
// Stats, when set, is filled in when the call has run: at once on the CPU,
// at the next Flush on a backend that queues work.
type Attention struct {
	Q, K, V, Out            []float32
	N, Pos0                 int
	Heads, KVHeads, HeadDim int
	Window                  int
	Scale                   float32         // usually 1/sqrt(HeadDim)
	Stats                   *AttentionStats // nil: measure nothing extra
}

// AttentionStats are the deep-depth measurements of one attention call,
// summed over every (query, head) softmax row.
type AttentionStats struct {
	Rows       int     // softmax rows measured
	EntropySum float64 // sum of row entropies, nats
	Weights    int     // attention weights seen
	Small      int     // weights below SmallWeight
	SoftmaxNs  int64   // softmax time; worker times divided by the worker count
	// SoftmaxUntimed says SoftmaxNs was not measured: a GPU kernel fuses
	// the softmax with the rest of attention and has no clock inside it.
	SoftmaxUntimed bool
}

// Probe is a request for activation statistics of one tensor, and its
// answer (Backend.Probe): Σx, Σx², max |x|, how many |x| < Small and, when
// CountNegative is set, how many x < 0, over N elements.
type Probe struct {
	Small         float32 // the |x| under which an element counts in Below
	CountNegative bool    // also count Negative (costs a pass on the CPU)

	N               int
	Sum, SumSq      float64
	MaxAbs          float32
	Below, Negative int
}

// Mark is a point in a backend's stream of operations (Backend.Mark).
type Mark int64

// SmallWeight is the attention weight under which a weight counts as sparse.
const SmallWeight = 1e-3

// Backend is everything the forward pass needs from a compute device. All
// slices are float32 activations in row-major order; n is the number of
// sequence positions (tokens) processed together. A Backend is used by one
// goroutine at a time.
//
// Batching. A backend may queue operations instead of running them (the
// Metal backend encodes them into one command buffer). So that it can:
//   - every activation, KV-cache and scratch slice an operation writes or
//     reads comes from Alloc; weights (Matrix data, norm weights, biases,
//     RoPE tables) may be any memory and must not change once used;
//   - the CPU reads or writes Alloc'd memory only after Flush returned;
//   - slices of ids, rows and weights passed to Embed, Gather and
//     ScatterAdd are read when the call is made, so the caller may reuse
//     them at once;
//   - results that land in caller structs (Probe, Attention.Stats) are
//     there once Flush returned.
//
// The CPU backend runs each operation when it is called: its Flush returns
// at once, Alloc is make, Mark reads clock.Now().
type Backend interface {
	// MatMul sets out[t*w.Rows+r] = Σ_c w[r,c]·x[t*w.Cols+c] (+ bias[r]) for t < n.
	// bias may be nil. n == 1 is the decode mat-vec; n > 1 is prefill.
	MatMul(out, x []float32, n int, w Matrix, bias []float32)
	// Embed copies row ids[t] of table into out[t*table.Cols:], widened to f32.
	Embed(out []float32, table Matrix, ids []int)
	// RMSNorm sets out = x·rsqrt(mean(x²)+eps)·weight for each of the n
	// rows of len(weight). out may be x. A per-head norm (Qwen3's q_norm)
	// is n·heads rows of head_dim.
	RMSNorm(out, x []float32, n int, weight []float32, eps float32)
	// RoPE rotates the first rotDim dims of every head in x (n rows of
	// heads*headDim) with the rotate_half pairing (i, i+rotDim/2), using
	// cos/sin tables of rotDim/2 entries per position starting at pos0.
	RoPE(x []float32, n, heads, headDim, rotDim, pos0 int, cos, sin []float32)
	// Attend runs causal attention as described by a.
	Attend(a *Attention)
	// SwiGLU sets gate[i] = silu(gate[i])·up[i].
	SwiGLU(gate, up []float32)
	// GeGLU sets gate[i] = gelu_tanh(gate[i])·up[i], with GELU's tanh
	// approximation 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))) (Gemma).
	GeGLU(gate, up []float32)
	// Scale sets x[i] *= s.
	Scale(x []float32, s float32)
	// Add sets dst[i] += src[i].
	Add(dst, src []float32)
	// AddScaled sets dst[i] += s·src[i] (an MoE expert's weighted output).
	AddScaled(dst, src []float32, s float32)
	// Gather copies rows: dst[j*width:] = src[rows[j]*width:], len(rows)
	// rows of width floats (the inputs routed to one MoE expert).
	Gather(dst, src []float32, rows []int, width int)
	// ScatterAdd adds weighted rows back: dst[rows[j]*width:] +=
	// weights[j]·src[j*width:] (one MoE expert's outputs into the residual
	// stream). rows holds distinct indices.
	ScatterAdd(dst, src []float32, rows []int, weights []float32, width int)

	// Alloc returns n zeroed float32s that operations may work in.
	Alloc(n int) []float32
	// Flush runs every queued operation and waits for it; afterwards the
	// CPU may touch Alloc'd memory and read Probe and Attention.Stats
	// results. It reports a device failure; the CPU backend never fails.
	Flush() error
	// Mark returns the current point of the operation stream. Marks around
	// a component bracket its run time; Time converts a mark to clock.Now()
	// nanoseconds, and is valid from the Flush that ran the operations
	// before the mark until the next operation is queued.
	Mark() Mark
	Time(m Mark) int64
	// Probe fills p's results with the statistics of x (see Probe).
	Probe(p *Probe, x []float32)

	// Name describes the backend and its kernels, for reports.
	Name() string
	// Close releases the backend's workers. The backend is unusable afterwards.
	Close()
}
