//go:build !(goexperiment.simd && amd64) && !arm64

package compute

// Builds without archsimd use the portable kernels (arm64 has its own
// dispatch in kernels_arm64.go).

func kernelName() string { return "scalar" }

func dotF32(a, b []float32) float32           { return dotF32Generic(a, b) }
func dotBF16(w []uint16, x []float32) float32 { return dotBF16Generic(w, x) }
func axpy(dst []float32, a float32, x []float32) {
	axpyGeneric(dst, a, x)
}
func dot4x2(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32) {
	dot4x2Generic(out, w0, w1, w2, w3, x0, x1)
}

func swiglu(g, u []float32)                 { swigluGeneric(g, u) }
func expSub(x []float32, m float32) float32 { return expSubGeneric(x, m) }
func widenBF16(dst []float32, src []uint16) { widenBF16Generic(dst, src) }
func moments(x []float32, small float32) (sum, sumSq float64, maxAbs float32, below int) {
	return momentsGeneric(x, small)
}
func dotBF16x4(out []float32, w0, w1, w2, w3 []uint16, x []float32) {
	out[0], out[1], out[2], out[3] = dotBF16Generic(w0, x), dotBF16Generic(w1, x), dotBF16Generic(w2, x), dotBF16Generic(w3, x)
}

func cleanUpper() {}
func dotF32x4(out []float32, w0, w1, w2, w3 []float32, x []float32) {
	out[0], out[1], out[2], out[3] = dotF32Generic(w0, x), dotF32Generic(w1, x), dotF32Generic(w2, x), dotF32Generic(w3, x)
}
