//go:build goexperiment.simd && amd64

package compute

import "simd/archsimd"

//go:noescape
func quantizeBlocksAVX512(x *float32, nb, k int, qs *int8, d *float32, s16 *int16)

// quantizeBlocksFast quantizes blocks [b0, b1) of a from x with the AVX-512
// kernel where the CPU has it (identical results to the Go loop), and
// reports whether it did.
func quantizeBlocksFast(a *qact, x []float32, b0, b1 int) bool {
	if b1 <= b0 || !archsimd.X86.AVX512() {
		return false
	}
	bl := a.block
	_ = x[b1*bl-1]
	_ = a.qs[b1*bl-1]
	_ = a.d[b1-1]
	_ = a.s16[b1*bl/16-1]
	quantizeBlocksAVX512(&x[b0*bl], b1-b0, bl/16, &a.qs[b0*bl], &a.d[b0], &a.s16[b0*bl/16])
	return true
}
