//go:build arm64

package compute

import (
	"math"
	"math/rand/v2"
	"testing"
)

// These tests compare the NEON kernels with the generic ones; CI runs them
// under qemu-aarch64 (make test-arm64). Lengths cover every residue of the
// vector widths (4, 8, 16) and the unrolled loops, and the slices start at
// an odd element so loads are not 16-byte aligned.

var neonLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 20, 23, 24, 31, 32, 33, 36, 47, 64, 65, 100, 255, 256, 768, 1000, 4099}

// smallInts returns n integers in [-8, 8] as float32, offset by one element.
func smallInts(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n+1)
	for i := range x {
		x[i] = float32(rng.IntN(17) - 8)
	}
	return x[1:]
}

// bf16Ints returns bfloat16 encodings of integers in [-8, 8] (exact).
func bf16Ints(rng *rand.Rand, n int) []uint16 {
	w := make([]uint16, n+1)
	for i := range w {
		w[i] = uint16(math.Float32bits(float32(rng.IntN(17)-8)) >> 16)
	}
	return w[1:]
}

func widenAll(w []uint16) []float32 {
	f := make([]float32, len(w))
	for i, u := range w {
		f[i] = BF16ToF32(u)
	}
	return f
}

// With small integers every partial sum is an exact float32 (|sum| ≤
// 4099·64 < 2^24), so any summation order gives the same bits: the NEON dot
// kernels must equal the generic ones exactly. A skipped, repeated or
// misplaced element shows up as a wrong integer.
func TestNEONDotsExactOnIntegers(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range neonLengths {
		a, b, c, d, x, y := smallInts(rng, n), smallInts(rng, n), smallInts(rng, n), smallInts(rng, n), smallInts(rng, n), smallInts(rng, n)
		if got, want := dotF32(a, x), dotF32Generic(a, x); got != want {
			t.Errorf("dotF32 n=%d: %g, want %g", n, got, want)
		}
		var o [4]float32
		dotF32x4(o[:], a, b, c, d, x)
		for r, w := range [][]float32{a, b, c, d} {
			if want := dotF32Generic(w, x); o[r] != want {
				t.Errorf("dotF32x4 n=%d row %d: %g, want %g", n, r, o[r], want)
			}
		}
		var o8, w8 [8]float32
		dot4x2(&o8, a, b, c, d, x, y)
		dot4x2Generic(&w8, a, b, c, d, x, y)
		if o8 != w8 {
			t.Errorf("dot4x2 n=%d: %v, want %v", n, o8, w8)
		}

		h0, h1, h2, h3 := bf16Ints(rng, n), bf16Ints(rng, n), bf16Ints(rng, n), bf16Ints(rng, n)
		if got, want := dotBF16(h0, x), dotF32Generic(widenAll(h0), x); got != want {
			t.Errorf("dotBF16 n=%d: %g, want %g", n, got, want)
		}
		dotBF16x4(o[:], h0, h1, h2, h3, x)
		for r, w := range [][]uint16{h0, h1, h2, h3} {
			if want := dotBF16Generic(w, x); o[r] != want {
				t.Errorf("dotBF16x4 n=%d row %d: %g, want %g", n, r, o[r], want)
			}
		}
	}
}

// dotTolerance is the stated bound for dots summed in another order: the
// NEON and generic results may differ by 1e-6·Σ|aᵢbᵢ| (about 17 float32
// ulps of the sum's scale; the worst-case bound n·2⁻²³·Σ|aᵢbᵢ| is far
// looser, and the measured difference is logged).
const dotTolerance = 1e-6

func TestNEONDotsWithinTolerance(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	worst := 0.0
	check := func(name string, n int, got, want float32, w, x []float32) {
		t.Helper()
		var scale float64
		for i := range x {
			scale += math.Abs(float64(w[i]) * float64(x[i]))
		}
		d := math.Abs(float64(got) - float64(want))
		if scale > 0 {
			worst = max(worst, d/scale)
		}
		if d > dotTolerance*scale {
			t.Errorf("%s n=%d: %g, generic %g (|diff| %g > %g·Σ|ab| = %g)", name, n, got, want, d, dotTolerance, dotTolerance*scale)
		}
	}
	for _, n := range neonLengths {
		for range 4 {
			a, b, c, d, x, y := randF32(rng, n), randF32(rng, n), randF32(rng, n), randF32(rng, n), randF32(rng, n), randF32(rng, n)
			rows := [][]float32{a, b, c, d}
			check("dotF32", n, dotF32(a, x), dotF32Generic(a, x), a, x)
			var o [4]float32
			dotF32x4(o[:], a, b, c, d, x)
			for r := range rows {
				check("dotF32x4", n, o[r], dotF32Generic(rows[r], x), rows[r], x)
			}
			var o8, w8 [8]float32
			dot4x2(&o8, a, b, c, d, x, y)
			dot4x2Generic(&w8, a, b, c, d, x, y)
			for k := range o8 {
				check("dot4x2", n, o8[k], w8[k], rows[k%4], [][]float32{x, y}[k/4])
			}
			h := make([][]uint16, 4)
			hw := make([][]float32, 4)
			for r := range h {
				h[r] = make([]uint16, n)
				for i, v := range rows[r] {
					h[r][i] = uint16(math.Float32bits(v) >> 16)
				}
				hw[r] = widenAll(h[r])
			}
			check("dotBF16", n, dotBF16(h[0], x), dotBF16Generic(h[0], x), hw[0], x)
			dotBF16x4(o[:], h[0], h[1], h[2], h[3], x)
			for r := range h {
				check("dotBF16x4", n, o[r], dotBF16Generic(h[r], x), hw[r], x)
			}
		}
	}
	t.Logf("largest NEON-vs-generic dot difference: %.3g·Σ|ab| (tolerance %g)", worst, dotTolerance)
}

// axpy and the widening kernels do one fused multiply-add or one exact
// conversion per element, as the generic loops do on arm64: identical bits.
func TestNEONElementwiseBitExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range neonLengths {
		a, x := randF32(rng, n), randF32(rng, n)
		d1, d2 := append([]float32(nil), a...), append([]float32(nil), a...)
		s := float32(rng.NormFloat64())
		axpy(d1, s, x)
		axpyGeneric(d2, s, x)
		for i := range d1 {
			if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
				t.Fatalf("axpy n=%d: [%d] = %g, generic %g", n, i, d1[i], d2[i])
			}
		}
		w := make([]uint16, n)
		for i := range w {
			w[i] = uint16(rng.Uint32())
		}
		g1, g2 := make([]float32, n), make([]float32, n)
		widenBF16(g1, w)
		widenBF16Generic(g2, w)
		for i := range g1 {
			if math.Float32bits(g1[i]) != math.Float32bits(g2[i]) {
				t.Fatalf("widenBF16 n=%d: [%d] %#04x → %#08x, want %#08x", n, i, w[i], math.Float32bits(g1[i]), math.Float32bits(g2[i]))
			}
		}
	}
}

// TestNEONWidenF16AllValues widens every one of the 65536 half-precision
// bit patterns. FCVTL and F16ToF32 agree exactly on all of them except that
// FCVTL returns signalling NaNs quiet; both must be NaN there.
func TestNEONWidenF16AllValues(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	got, want := make([]float32, len(src)), make([]float32, len(src))
	widenF16(got, src)
	widenF16Generic(want, src)
	for i := range src {
		g, w := got[i], want[i]
		if math.IsNaN(float64(w)) {
			if !math.IsNaN(float64(g)) {
				t.Fatalf("widenF16(%#04x) = %g, want NaN", src[i], g)
			}
			continue
		}
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("widenF16(%#04x) = %g (%#08x), want %g (%#08x)", src[i], g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

// The NEON exp is the Cephes polynomial, checked against math.Exp over the
// range where float32 e^x is a normal number. Beyond it the kernel clamps
// (as the amd64 one does) and the scalar tail does not, so there only the
// order of magnitude is checked.
func TestNEONExpAndSwiGLU(t *testing.T) {
	const expTolerance = 2.5e-7 // relative
	var xs []float32
	for v := float32(-87.3); v <= 88.3; v += 0.0137 {
		xs = append(xs, v)
	}
	xs = append(xs, 0, -1e-30, 1e-30, -87.33654, 88.37626)
	inRange := len(xs)
	xs = append(xs, -200, -88, 89, 100, -200, -88, 89, 100) // two per lane group and tail
	got := append([]float32(nil), xs...)
	sum := expSub(got, 0)
	worst := 0.0
	var total float64
	for i, v := range xs {
		total += float64(got[i])
		e := math.Exp(float64(v))
		if i >= inRange {
			if (v < 0 && !(got[i] >= 0 && got[i] <= 1.2e-38)) || (v > 0 && !(got[i] >= 2.4e38)) {
				t.Errorf("exp(%g) = %g, want ≤ 1.2e-38 below the range and ≥ 2.4e38 above it", v, got[i])
			}
			continue
		}
		rel := math.Abs(float64(got[i])-e) / e
		worst = max(worst, rel)
		if rel > expTolerance {
			t.Errorf("exp(%g) = %g, want %g (relative error %.3g)", v, got[i], e, rel)
		}
	}
	if math.Abs(float64(sum)-total) > 1e-6*total {
		t.Errorf("expSub returned sum %g, its outputs add up to %g", sum, total)
	}
	t.Logf("largest NEON exp relative error on [-87.3, 88.3]: %.3g (tolerance %g)", worst, expTolerance)

	rng := rand.New(rand.NewPCG(17, 18))
	g := append([]float32(nil), xs[:inRange]...)
	u := randF32(rng, len(g))
	swiglu(g, u)
	worstS := 0.0
	for i, v := range xs[:inRange] {
		s := float64(v) / (1 + math.Exp(-float64(v))) * float64(u[i])
		d := math.Abs(float64(g[i]) - s)
		if math.Abs(s) > 1e-30 {
			worstS = max(worstS, d/math.Abs(s))
		}
		if d > 1e-6*math.Max(1e-3, math.Abs(s)) {
			t.Errorf("swiglu(%g, %g) = %g, want %g", v, u[i], g[i], s)
		}
	}
	t.Logf("largest NEON swiglu relative error (|result| > 1e-30): %.3g", worstS)
}
