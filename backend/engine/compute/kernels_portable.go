//go:build !(goexperiment.simd && amd64)

package compute

// Element-wise kernels that only the archsimd build vectorises; every other
// build (arm64 included, whose NEON kernels live in kernels_arm64.go) uses
// the portable forms.

func maxF32(x []float32) float32                 { return maxF32Generic(x) }
func scaleF32(x []float32, s float32)            { scaleF32Generic(x, s) }
func addF32(dst, src []float32)                  { addF32Generic(dst, src) }
func scaleMulF32(out, x, w []float32, s float32) { scaleMulF32Generic(out, x, w, s) }
func rotate(a, b, cs, sn []float32)              { rotateGeneric(a, b, cs, sn) }

// expScaleSub keeps the platform's own exp kernel (expSub: NEON on arm64)
// for the unscaled softmax, the only one these builds run.
func expScaleSub(x []float32, scale, m float32) float32 {
	if scale == 1 {
		return expSub(x, m)
	}
	return expScaleSubGeneric(x, scale, m)
}
