package metal

import (
	_ "embed"
	"encoding/binary"
	"fmt"

	"energyprofiler/backend/engine/compute"
)

// Source is the MSL source of every kernel, compiled at first use.
//
//go:embed kernels.metal
var Source string

// Kernel indexes Kernels.
type Kernel int

// The kernels, in the order Compile gets their names.
const (
	KMulMVF32 Kernel = iota
	KMulMVF16
	KMulMVBF16
	KEmbedF32
	KEmbedF16
	KEmbedBF16
	KRMSNorm
	KRoPE
	KAttention
	KSwiGLU
	KGeGLU
	KScale
	KAddScaled
	KGatherRows
	KScatterAdd
	KProbe
	// GGUF block types (the engine gets them with package compute's
	// quantized DTypes).
	KMulMVQ8_0
	KMulMVQ4_0
	KMulMVQ4_K
	KMulMVQ5_K
	KMulMVQ6_K
	KEmbedQ8_0
	KEmbedQ4_0
	KEmbedQ4_K
	KEmbedQ5_K
	KEmbedQ6_K
	numKernels
)

// Kernels are the MSL function names, indexed by Kernel.
var Kernels = [numKernels]string{
	KMulMVF32: "mul_mv_f32", KMulMVF16: "mul_mv_f16", KMulMVBF16: "mul_mv_bf16",
	KEmbedF32: "embed_f32", KEmbedF16: "embed_f16", KEmbedBF16: "embed_bf16",
	KRMSNorm: "rms_norm", KRoPE: "rope", KAttention: "attention",
	KSwiGLU: "swiglu", KGeGLU: "geglu", KScale: "scale", KAddScaled: "add_scaled",
	KGatherRows: "gather_rows", KScatterAdd: "scatter_add", KProbe: "probe",
	KMulMVQ8_0: "mul_mv_q8_0", KMulMVQ4_0: "mul_mv_q4_0", KMulMVQ4_K: "mul_mv_q4_k", KMulMVQ5_K: "mul_mv_q5_k", KMulMVQ6_K: "mul_mv_q6_k",
	KEmbedQ8_0: "embed_q8_0", KEmbedQ4_0: "embed_q4_0", KEmbedQ4_K: "embed_q4_k", KEmbedQ5_K: "embed_q5_k", KEmbedQ6_K: "embed_q6_k",
}

// QuantTypes are the GGUF block types the kernels decode, by the name
// compute.DType.String() gives them, with their block geometry
// (ggml-common.h). Weights are matched by name, so these kernels serve
// compute's quantized DTypes from the build that has them on.
var QuantTypes = map[string]struct {
	MulMV, Embed  Kernel
	Values, Bytes int // per block
}{
	"Q8_0": {KMulMVQ8_0, KEmbedQ8_0, 32, 34},
	"Q4_0": {KMulMVQ4_0, KEmbedQ4_0, 32, 18},
	"Q4_K": {KMulMVQ4_K, KEmbedQ4_K, 256, 144},
	"Q5_K": {KMulMVQ5_K, KEmbedQ5_K, 256, 176},
	"Q6_K": {KMulMVQ6_K, KEmbedQ6_K, 256, 210},
}

func (k Kernel) String() string { return Kernels[k] }

// Work sizes the kernels are written for (kernels.metal's #defines).
const (
	SIMDWidth     = 32
	MVRows        = 4   // MV_ROWS: weight rows per mul_mv threadgroup
	MVTokens      = 8   // MV_TOKENS: tokens per mul_mv threadgroup
	AttThreads    = 128 // ATT_THREADS
	AttMaxHeadDim = 256 // ATT_MAX_HEAD_DIM
	EltThreads    = 256 // element-wise, embed, gather/scatter threadgroups
	NormThreads   = 256 // rms_norm threadgroup
	ProbeThreads  = 256 // probe: one threadgroup
	ProbeFloats   = 5   // probe results: Σx, Σx², max|x|, #small, #negative
)

// Argument structs: the Go twins of kernels.metal's structs, field for
// field (a test parses the .metal file to check). Every field is 4 bytes.

type MulMVArgs struct{ Rows, Cols, N, HasBias uint32 }
type EmbedArgs struct{ Cols, N uint32 }
type RMSNormArgs struct {
	Dim, Rows uint32
	Eps       float32
}
type RoPEArgs struct{ N, Heads, HeadDim, RotDim, Pos0 uint32 }
type AttentionArgs struct {
	N, Pos0, Heads, KVHeads, HeadDim, Window uint32
	Scale                                    float32
	Stats                                    uint32
}
type EltArgs struct {
	N uint32
	S float32
}
type RowsArgs struct{ Width, Count uint32 }
type ProbeArgs struct {
	N     uint32
	Small float32
}

// ArgStructs maps each MSL argument struct name to its Go twin.
var ArgStructs = map[string]any{
	"MulMVArgs": MulMVArgs{}, "EmbedArgs": EmbedArgs{}, "RMSNormArgs": RMSNormArgs{},
	"RoPEArgs": RoPEArgs{}, "AttentionArgs": AttentionArgs{}, "EltArgs": EltArgs{},
	"RowsArgs": RowsArgs{}, "ProbeArgs": ProbeArgs{},
}

// packArgs appends args' little-endian bytes (the layout of its MSL twin).
func packArgs(dst []byte, args any) []byte {
	out, err := binary.Append(dst, binary.LittleEndian, args)
	if err != nil {
		panic(fmt.Sprintf("metal: pack %T: %v", args, err))
	}
	return out
}

// mulMVKernel is the mat-vec/mat-mat kernel for a weight type.
func mulMVKernel(dt compute.DType) (Kernel, error) {
	switch dt {
	case compute.F32:
		return KMulMVF32, nil
	case compute.F16:
		return KMulMVF16, nil
	case compute.BF16:
		return KMulMVBF16, nil
	}
	if q, ok := QuantTypes[dt.String()]; ok {
		return q.MulMV, nil
	}
	return 0, fmt.Errorf("metal: no matrix kernel for %s weights", dt)
}

func embedKernel(dt compute.DType) (Kernel, error) {
	switch dt {
	case compute.F32:
		return KEmbedF32, nil
	case compute.F16:
		return KEmbedF16, nil
	case compute.BF16:
		return KEmbedBF16, nil
	}
	if q, ok := QuantTypes[dt.String()]; ok {
		return q.Embed, nil
	}
	return 0, fmt.Errorf("metal: no embedding kernel for %s tables", dt)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Grid geometry per kernel, as kernels.metal expects it.

func mulMVGrid(rows, n int) (groups, threads [3]int) {
	return [3]int{ceilDiv(rows, MVRows), ceilDiv(n, MVTokens), 1}, [3]int{MVRows * SIMDWidth, 1, 1}
}

// linearGrid covers n threads in threadgroups of EltThreads.
func linearGrid(n int) (groups, threads [3]int) {
	return [3]int{max(1, ceilDiv(n, EltThreads)), 1, 1}, [3]int{EltThreads, 1, 1}
}

// rowsGrid covers count rows of width in threadgroups of EltThreads.
func rowsGrid(width, count int) (groups, threads [3]int) {
	return [3]int{ceilDiv(width, EltThreads), count, 1}, [3]int{EltThreads, 1, 1}
}
