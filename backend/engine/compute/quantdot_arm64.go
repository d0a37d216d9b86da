//go:build arm64

package compute

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// The fused quantized dot products on arm64: SDOT kernels
// (quantdot_arm64.s) on cores with the ARMv8.2 dotprod extension, the
// portable ones (quantdot.go) elsewhere.
//
// How the results compare with the portable kernels (TestSDOT… in
// quantdot_arm64_test.go checks each):
//   - Every integer is the same: a block's Σ q·x, its scale and min terms
//     and the offsets through the activation sums are exact int32
//     arithmetic in both.
//   - The float part differs only in order. The Q8_0 and Q4_0 kernels
//     accumulate blocks in four lanes (block b in lane b mod 4) and multiply
//     the two scales before the block sum, as the portable code does; the
//     K-quant kernels accumulate block by block in one register, with two
//     roundings where the portable code may fuse a multiply-add. So results
//     are equal whenever no float operation rounds, and within 1e-6 of
//     Σ|w·x| otherwise.

// hasDotProd reports SDOT. Every Apple Silicon core has it (ARMv8.4 and
// later), but macOS 11 has no sysctl that says so, hence the darwin case.
func hasDotProd() bool { return cpu.ARM64.HasASIMDDP || runtime.GOOS == "darwin" }

// Assembly kernels: blocks is len(d) > 0, and every pointer addresses the
// whole of its row (qact's layout).

//go:noescape
func dotQ8_0SDOT(w *byte, x *int8, d *float32, blocks int) float32

//go:noescape
func dotQ4_0SDOT(w *byte, x *int8, d *float32, blocks int) float32

//go:noescape
func dotQ4KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32

//go:noescape
func dotQ5KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32

//go:noescape
func dotQ6KSDOT(w *byte, x *int8, d *float32, sums *int16, blocks int) float32

// dotQuant is the fused quantized dot product of one weight row with one
// quantized activation row.
func dotQuant(dt DType, w []byte, a actRow) float32 {
	blocks := len(a.d)
	if blocks == 0 || !hasDotProd() || !dt.Quantized() {
		return dotQuantGeneric(dt, w, a)
	}
	values, bytes := dt.blockLayout()
	// The kernels read exactly these ranges: index their last elements so
	// a short slice panics here, as the portable code would, instead of
	// being read past its end.
	_, _ = w[blocks*bytes-1], a.qs[blocks*values-1]
	switch dt {
	case Q8_0:
		return dotQ8_0SDOT(&w[0], &a.qs[0], &a.d[0], blocks)
	case Q4_0:
		return dotQ4_0SDOT(&w[0], &a.qs[0], &a.d[0], blocks)
	case Q4_K:
		_ = a.s32[8*blocks-1]
		return dotQ4KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s32[0], blocks)
	case Q5_K:
		_ = a.s32[8*blocks-1]
		return dotQ5KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s32[0], blocks)
	default: // Q6_K
		_ = a.s16[16*blocks-1]
		return dotQ6KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s16[0], blocks)
	}
}

// dotRows computes several rows in one kernel call where a kernel can; on
// arm64 each row is one call (dotQuant).
func dotRows(DType, []byte, int, actRow, []float32) bool { return false }

// hasQ4_0Perm: no arm64 kernel reads permuted Q4_0 activations.
func hasQ4_0Perm() bool { return false }
