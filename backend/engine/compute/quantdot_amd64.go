//go:build goexperiment.simd && amd64

package compute

// dotQuant is the fused quantized dot product: the archsimd kernels
// (quantdot_simd_amd64.go) on CPUs with AVX-512, the portable ones elsewhere.
func dotQuant(dt DType, w []byte, a actRow) float32 {
	return dotQuantGeneric(dt, w, a)
}
