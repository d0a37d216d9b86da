//go:build arm64

package compute

// NEON kernels (kernels_arm64.s) for arm64: Apple Silicon and other ARMv8
// cores, where Advanced SIMD is always present. Each wrapper hands the
// vector part of its slices to the assembly kernel and finishes the few
// leftover elements in Go.
//
// How the results compare with the generic kernels (TestNEON… in
// kernels_test.go checks each):
//   - axpy, widenBF16 and widenF16 give identical bits: one fused
//     multiply-add or one exact conversion per element, as the generic loop
//     compiles on arm64.
//   - The dot kernels sum in more lanes than the generic ones (16 for one
//     row, 8 per row for four rows), so they round differently: within 1e-6
//     of Σ|a·b|, and identical whenever no partial sum rounds.
//   - expSub and swiglu use the Cephes polynomial of the amd64 kernels
//     instead of math.Exp: about 1e-7 relative error.
//
// The quantized dot products have their own file (quantdot_arm64.go, SDOT
// kernels behind a dotprod check). Adding a kernel: write the generic
// version beside the others, a NEON one in kernels_arm64.s, and its
// wrapper here. Until a NEON version exists, forward to the generic one at
// the end of this file, as moments does.

func kernelName() string { return "neon" }

// Assembly kernels. n counts elements and is a multiple of 4 (8 for the
// widening kernels); every pointer addresses at least n elements.

//go:noescape
func dotF32NEON(a, b *float32, n int) float32

//go:noescape
func dotBF16NEON(w *uint16, x *float32, n int) float32

//go:noescape
func dotF32x4NEON(out *[4]float32, w0, w1, w2, w3, x *float32, n int)

//go:noescape
func dotBF16x4NEON(out *[4]float32, w0, w1, w2, w3 *uint16, x *float32, n int)

//go:noescape
func dot4x2NEON(out *[8]float32, w0, w1, w2, w3, x0, x1 *float32, n int)

//go:noescape
func axpyNEON(dst, x *float32, a float32, n int)

//go:noescape
func widenBF16NEON(dst *float32, src *uint16, n int)

//go:noescape
func widenF16NEON(dst *float32, src *uint16, n int)

//go:noescape
func expSubNEON(x *float32, m float32, n int) float32

//go:noescape
func swigluNEON(gate, up *float32, n int)

func dotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	v := n &^ 3
	var s float32
	if v > 0 {
		s = dotF32NEON(&a[0], &b[0], v)
	}
	for i := v; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func dotBF16(w []uint16, x []float32) float32 {
	n := len(w)
	x = x[:n]
	v := n &^ 3
	var s float32
	if v > 0 {
		s = dotBF16NEON(&w[0], &x[0], v)
	}
	for i := v; i < n; i++ {
		s += BF16ToF32(w[i]) * x[i]
	}
	return s
}

func dotF32x4(out []float32, w0, w1, w2, w3 []float32, x []float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	o := (*[4]float32)(out[:4])
	v := n &^ 3
	*o = [4]float32{}
	if v > 0 {
		dotF32x4NEON(o, &w0[0], &w1[0], &w2[0], &w3[0], &x[0], v)
	}
	for i := v; i < n; i++ {
		o[0] += w0[i] * x[i]
		o[1] += w1[i] * x[i]
		o[2] += w2[i] * x[i]
		o[3] += w3[i] * x[i]
	}
}

func dotBF16x4(out []float32, w0, w1, w2, w3 []uint16, x []float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	o := (*[4]float32)(out[:4])
	v := n &^ 3
	*o = [4]float32{}
	if v > 0 {
		dotBF16x4NEON(o, &w0[0], &w1[0], &w2[0], &w3[0], &x[0], v)
	}
	for i := v; i < n; i++ {
		o[0] += BF16ToF32(w0[i]) * x[i]
		o[1] += BF16ToF32(w1[i]) * x[i]
		o[2] += BF16ToF32(w2[i]) * x[i]
		o[3] += BF16ToF32(w3[i]) * x[i]
	}
}

func dot4x2(out *[8]float32, w0, w1, w2, w3, x0, x1 []float32) {
	n := len(w0)
	w1, w2, w3, x0, x1 = w1[:n], w2[:n], w3[:n], x0[:n], x1[:n]
	v := n &^ 3
	*out = [8]float32{}
	if v > 0 {
		dot4x2NEON(out, &w0[0], &w1[0], &w2[0], &w3[0], &x0[0], &x1[0], v)
	}
	for i := v; i < n; i++ {
		out[0] += w0[i] * x0[i]
		out[1] += w1[i] * x0[i]
		out[2] += w2[i] * x0[i]
		out[3] += w3[i] * x0[i]
		out[4] += w0[i] * x1[i]
		out[5] += w1[i] * x1[i]
		out[6] += w2[i] * x1[i]
		out[7] += w3[i] * x1[i]
	}
}

func axpy(dst []float32, a float32, x []float32) {
	n := len(dst)
	x = x[:n]
	v := n &^ 3
	if v > 0 {
		axpyNEON(&dst[0], &x[0], a, v)
	}
	axpyGeneric(dst[v:], a, x[v:])
}

func widenBF16(dst []float32, src []uint16) {
	n := len(src)
	dst = dst[:n]
	v := n &^ 7
	if v > 0 {
		widenBF16NEON(&dst[0], &src[0], v)
	}
	widenBF16Generic(dst[v:], src[v:])
}

func widenF16(dst []float32, src []uint16) {
	n := len(src)
	dst = dst[:n]
	v := n &^ 7
	if v > 0 {
		widenF16NEON(&dst[0], &src[0], v)
	}
	widenF16Generic(dst[v:], src[v:])
}

func expSub(x []float32, m float32) float32 {
	v := len(x) &^ 3
	var sum float32
	if v > 0 {
		sum = expSubNEON(&x[0], m, v)
	}
	return sum + expSubGeneric(x[v:], m)
}

func swiglu(g, u []float32) {
	n := len(g)
	u = u[:n]
	v := n &^ 3
	if v > 0 {
		swigluNEON(&g[0], &u[0], v)
	}
	swigluGeneric(g[v:], u[v:])
}

// Kernels without a NEON version (yet): the generic ones.

func moments(x []float32, small float32) (sum, sumSq float64, maxAbs float32, below int) {
	return momentsGeneric(x, small)
}

func cleanUpper() {}
