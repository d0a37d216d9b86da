//go:build arm64

package compute

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// These tests compare the SDOT kernels (quantdot_arm64.s) with the
// portable ones; make test-arm64 runs them under qemu-aarch64, once on a
// CPU model with dotprod and once without (where dotQuant must fall back).

var sdotTypes = []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K}

// sdotKernel calls the SDOT kernel of dt directly (dotQuant would fall
// back to the portable code on a CPU without dotprod).
func sdotKernel(dt DType, w []byte, a actRow) float32 {
	b := len(a.d)
	switch dt {
	case Q8_0:
		return dotQ8_0SDOT(&w[0], &a.qs[0], &a.d[0], b)
	case Q4_0:
		return dotQ4_0SDOT(&w[0], &a.qs[0], &a.d[0], b)
	case Q4_K:
		return dotQ4KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s32[0], b)
	case Q5_K:
		return dotQ5KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s32[0], b)
	}
	return dotQ6KSDOT(&w[0], &a.qs[0], &a.d[0], &a.s16[0], b)
}

// TestSDOTAvailability checks the feature detection against what the run
// expects: make test-arm64 sets ENERGYPROFILER_ARM64_DOTPROD to required
// for qemu's default CPU model (which has dotprod) and to absent for a
// Cortex-A72 model, so neither path can be skipped without a failure.
func TestSDOTAvailability(t *testing.T) {
	switch want := os.Getenv("ENERGYPROFILER_ARM64_DOTPROD"); want {
	case "required":
		if !hasDotProd() {
			t.Fatal("this CPU reports no dotprod, so the SDOT kernels are not tested")
		}
	case "absent":
		if hasDotProd() {
			t.Fatal("this CPU reports dotprod, so the portable fallback is not tested")
		}
	case "":
		t.Logf("dotprod: %v", hasDotProd())
	default:
		t.Fatalf("ENERGYPROFILER_ARM64_DOTPROD=%q: want required or absent", want)
	}
}

func requireDotProd(t *testing.T) {
	t.Helper()
	if !hasDotProd() {
		t.Skip("no dotprod on this CPU: dotQuant uses the portable kernels (TestQuantKernelsMatchGeneric covers them)")
	}
}

// putHalf writes the fp16 of 2^e (|e| small).
func putHalf(b []byte, e int) { binary.LittleEndian.PutUint16(b, uint16(e+15)<<10) }

// exactWeights makes blocks random blocks of dt whose fp16 scales are
// powers of two from 1/4 to 1, so every decoded weight is a multiple of
// 1/4 below 2^14 (the 6-bit sub-block scales and mins stay random).
func exactWeights(rng *rand.Rand, dt DType, blocks int) []byte {
	_, bytes := dt.blockLayout()
	w := make([]byte, blocks*bytes)
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	for b := range blocks {
		blk := w[b*bytes : (b+1)*bytes]
		switch dt {
		case Q8_0, Q4_0:
			putHalf(blk, -rng.IntN(3))
		case Q4_K, Q5_K:
			putHalf(blk, -rng.IntN(3))
			putHalf(blk[2:], -rng.IntN(3))
		case Q6_K:
			putHalf(blk[208:], -rng.IntN(3))
		}
	}
	return w
}

// exactActivations makes a row whose quantization is exact: per block
// (block values), small integers in [-7, 7] and one ±127, all times a
// power of two from 1/4 to 1, so d = 2^e and q = x/d.
func exactActivations(rng *rand.Rand, n, block int) []float32 {
	x := make([]float32, n)
	for b := 0; b < n; b += block {
		s := float32(math.Ldexp(1, -rng.IntN(3)))
		for i := range block {
			x[b+i] = float32(rng.IntN(15)-7) * s
		}
		x[b+rng.IntN(block)] = float32(127*(2*rng.IntN(2)-1)) * s
	}
	return x
}

// exactDot is Σ w·x̂ in float64 from the published definitions: the
// weights decoded by DequantizeRow (exact here) and the activations as
// their int8 values times their block scale.
func exactDot(t *testing.T, dt DType, w []byte, a actRow, block int) float64 {
	t.Helper()
	deq := make([]float32, len(a.qs))
	if err := DequantizeRow(deq, dt, w); err != nil {
		t.Fatal(err)
	}
	var s float64
	for i, v := range deq {
		s += float64(v) * float64(a.d[i/block]) * float64(a.qs[i])
	}
	return s
}

// TestSDOTExactOnExactInputs: on inputs where every float operation of
// either kernel is exact (power-of-two scales, small integers), the SDOT
// kernels must equal the portable kernels and the float64 sum bit for bit,
// whatever their order of operations. A wrong nibble, high bit, scale,
// min, offset or block stride changes the result by a whole unit. Block
// counts cover the four-block loops of Q8_0/Q4_0 and their tails.
func TestSDOTExactOnExactInputs(t *testing.T) {
	requireDotProd(t)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, dt := range sdotTypes {
		values, _ := dt.blockLayout()
		counts := []int{1, 2, 3, 5, 8}
		if values == 32 {
			counts = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17, 33}
		}
		for _, blocks := range counts {
			for trial := range 8 {
				n := blocks * values
				w := exactWeights(rng, dt, blocks)
				var a qact
				a.quantize(exactActivations(rng, n, actBlock(dt)), 1, n, actBlock(dt))
				row := a.row(0)
				want := exactDot(t, dt, w, row, actBlock(dt))
				if float64(float32(want)) != want {
					t.Fatalf("%s: test data too large for exact float32 sums (%g)", dt, want)
				}
				got, gen := sdotKernel(dt, w, row), dotQuantGeneric(dt, w, row)
				if gen != float32(want) {
					t.Fatalf("%s blocks=%d trial %d: portable kernel %g, exact %g: the inputs are not exact", dt, blocks, trial, gen, want)
				}
				if got != gen {
					t.Errorf("%s blocks=%d trial %d: SDOT %g, portable and exact %g", dt, blocks, trial, got, gen)
				}
			}
		}
	}
}

// TestSDOTWithinTolerance compares the SDOT kernels with the portable ones
// on llama.cpp-style quantized Gaussian weights and activations with an
// outlier. Only the float order differs: the stated bound is 1e-6 of
// Σ|w·x̂| (the activations as quantized); the worst seen is logged.
func TestSDOTWithinTolerance(t *testing.T) {
	requireDotProd(t)
	const tol = 1e-6
	rng := rand.New(rand.NewPCG(23, 24))
	for _, dt := range sdotTypes {
		colsList := []int{256, 768, 1280, 4608, 11008}
		if actBlock(dt) == 32 {
			colsList = append(colsList, 32, 96, 160, 288, 4384)
		}
		worst, bitsEqual, cases := 0.0, 0, 0
		for _, cols := range colsList {
			for range 4 {
				w, err := Quantize(dt, randF32(rng, cols), cols)
				if err != nil {
					t.Fatal(err)
				}
				x := randF32(rng, cols)
				x[rng.IntN(cols)] = 30
				var a qact
				a.quantize(x, 1, cols, actBlock(dt))
				row := a.row(0)
				got, want := sdotKernel(dt, w, row), dotQuantGeneric(dt, w, row)
				deq := make([]float32, cols)
				if err := DequantizeRow(deq, dt, w); err != nil {
					t.Fatal(err)
				}
				var scale float64
				for i, v := range deq {
					scale += math.Abs(float64(v) * float64(a.d[i/actBlock(dt)]) * float64(a.qs[i]))
				}
				d := math.Abs(float64(got) - float64(want))
				worst = max(worst, d/scale)
				cases++
				if got == want {
					bitsEqual++
				}
				if !(d <= tol*scale) {
					t.Errorf("%s cols %d: SDOT %g, portable %g (|diff| %.3g > %g·Σ|w·x̂| = %.3g)", dt, cols, got, want, d, tol, tol*scale)
				}
			}
		}
		t.Logf("%s: worst |SDOT − portable| = %.3g·Σ|w·x̂| over %d rows (%d bit-identical)", dt, worst, cases, bitsEqual)
	}
}

// TestSDOTDispatch: dotQuant takes the SDOT kernels (same bits as calling
// them) and refuses a short weight row instead of reading past it.
func TestSDOTDispatch(t *testing.T) {
	requireDotProd(t)
	rng := rand.New(rand.NewPCG(25, 26))
	for _, dt := range sdotTypes {
		cols := 512
		w, err := Quantize(dt, randF32(rng, cols), cols)
		if err != nil {
			t.Fatal(err)
		}
		var a qact
		a.quantize(randF32(rng, cols), 1, cols, actBlock(dt))
		if got, want := dotQuant(dt, w, a.row(0)), sdotKernel(dt, w, a.row(0)); got != want {
			t.Errorf("%s: dotQuant %g, SDOT kernel %g", dt, got, want)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: a row one byte short was accepted", dt)
				}
			}()
			dotQuant(dt, w[:len(w)-1], a.row(0))
		}()
	}
}
