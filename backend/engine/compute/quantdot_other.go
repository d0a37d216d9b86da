//go:build !(goexperiment.simd && amd64) && !arm64

package compute

// dotQuant is the fused quantized dot product; builds without SIMD kernels
// for it (amd64 has quantdot_amd64.go, arm64 quantdot_arm64.go) use the
// portable ones.
func dotQuant(dt DType, w []byte, a actRow) float32 { return dotQuantGeneric(dt, w, a) }

// dotRows computes several rows in one kernel call where a kernel can; here
// none does.
func dotRows(DType, []byte, int, actRow, []float32) bool { return false }

// hasQ4_0Perm: no kernel here reads permuted Q4_0 activations.
func hasQ4_0Perm() bool { return false }
