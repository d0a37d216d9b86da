//go:build amd64

package compute

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackPanel checks the assembly packers (and the scalar edges around
// them) against the panel's definition: panel[k*32+j] = w[r0+j][k], zero
// past the last row. Packing only moves and widens values, so it is exact.
func TestPackPanel(t *testing.T) {
	if !gemmAvailable() {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	widths := []int{gemmRows}
	if gemmAVX2Available() {
		widths = append(widths, avx2Rows)
	}
	for _, width := range widths {
		for _, dt := range []DType{BF16, F16, F32} {
			for _, rows := range []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 64} {
				for _, cols := range []int{1, 7, 8, 9, 15, 16, 17, 48, 70} {
					w, exact := encode(t, dt, rows, cols, randF32(rng, rows*cols))
					panel := make([]float32, width*cols)
					size := dt.Size()
					for r0 := 0; r0 < rows; r0 += width {
						for i := range panel {
							panel[i] = float32(math.NaN()) // every element must be written
						}
						packRowsWidth(panel, width, dt, w.Data[r0*cols*size:], cols, min(width, rows-r0), cols)
						for k := range cols {
							for j := range width {
								want := 0.0
								if r0+j < rows {
									want = exact[(r0+j)*cols+k]
								}
								if got := panel[k*width+j]; float64(got) != want {
									t.Fatalf("width %d %s %dx%d r0=%d: panel[%d][%d] = %g, want %g", width, dt, rows, cols, r0, k, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestGEMMTileMatchesGeneric runs every token count of the micro-kernel on
// odd depths and row masks against the portable definition, and checks that
// masked-off outputs are left alone.
func TestGEMMTileMatchesGeneric(t *testing.T) {
	if !gemmAvailable() {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	masks := []uint32{^uint32(0), 1, 0x7fff, 0xffff, 0x1ffff, 0x80000001, rng.Uint32()}
	for m := 1; m <= gemmTokens; m++ {
		for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 17, 64, 257} {
			for _, mask := range masks {
				ldx, ldc, ldp := k+3, gemmRows+5, gemmRows+m%3 // strides wider than the tile
				x := randF32(rng, m*ldx)
				panel := randF32(rng, ldp*k)
				bias := randF32(rng, gemmRows)
				got := make([]float32, m*ldc)
				want := make([]float32, m*ldc)
				for i := range got {
					got[i], want[i] = -7, -7
				}
				gemmTile(m, &x[0], 4*ldx, &panel[0], 4*ldp, k, &got[0], 4*ldc, &bias[0], mask)
				gemmTileGeneric(m, x, ldx, panel, ldp, k, want, ldc, bias, mask)
				for i := range got {
					tol := 1e-5 * math.Sqrt(float64(k)) * 4
					if d := math.Abs(float64(got[i] - want[i])); d > tol || (want[i] == -7) != (got[i] == -7) {
						t.Fatalf("m=%d k=%d mask=%#x: c[%d][%d] = %g, generic %g", m, k, mask, i/ldc, i%ldc, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestGEMMMatchesDotKernels compares the GEMM paths of MatMul (AVX-512 and
// AVX2) with the 4×2 dot-product path they replace, for every token count
// up to two tiles and row counts that leave partial panels.
func TestGEMMMatchesDotKernels(t *testing.T) {
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, avx2 := range []bool{false, true} {
		if avx2 && !gemmAVX2Available() || !avx2 && !gemmAvailable() {
			continue
		}
		t.Run(map[bool]string{false: "avx512", true: "avx2"}[avx2], func(t *testing.T) { gemmMatchesDotKernels(t, cpu, avx2) })
	}
}

func gemmMatchesDotKernels(t *testing.T, cpu *CPU, avx2 bool) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, dt := range []DType{F32, BF16, F16} {
		for _, shape := range [][2]int{{32, 16}, {33, 70}, {100, 257}, {65, 768}, {9, 13}} {
			rows, cols := shape[0], shape[1]
			w, _ := encode(t, dt, rows, cols, randF32(rng, rows*cols))
			bias := randF32(rng, rows)
			for n := 1; n <= 2*gemmTokens+1; n++ {
				x := randF32(rng, n*cols)
				got, want := make([]float32, n*rows), make([]float32, n*rows)
				for _, b := range [][]float32{nil, bias} {
					cpu.useGEMM, cpu.useGEMM2, cpu.useAMX = !avx2, avx2, false
					cpu.MatMul(got, x, n, w, b)
					cpu.useGEMM, cpu.useGEMM2 = false, false
					cpu.MatMul(want, x, n, w, b)
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(cols))*4 {
							t.Fatalf("%s %dx%d n=%d bias=%v: out[%d][%d] = %g, dot kernels %g", dt, rows, cols, n, b != nil, i/rows, i%rows, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestBatchedAttention checks prefill attention through the GEMM kernels
// against the definition and against the per-query path, on head sizes
// with tails, grouped heads, windows, a filled cache before the chunk, and
// every query count around the block and tile sizes.
func TestBatchedAttention(t *testing.T) {
	if !gemmAvailable() {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	cpu := NewCPU(2)
	defer cpu.Close()
	type shape struct{ heads, kvHeads, hd, window int }
	shapes := []shape{{4, 2, 16, 0}, {3, 3, 24, 0}, {6, 1, 64, 7}, {2, 2, 80, 0}, {12, 4, 64, 40}}
	for _, sh := range shapes {
		for _, pos0 := range []int{0, 37} {
			for _, n := range []int{1, 4, 5, 13, 47, 48, 49, 100} {
				kvDim, qDim := sh.kvHeads*sh.hd, sh.heads*sh.hd
				ctx := pos0 + n
				a := Attention{
					Q: randF32(rng, n*qDim), K: randF32(rng, ctx*kvDim), V: randF32(rng, ctx*kvDim),
					N: n, Pos0: pos0, Heads: sh.heads, KVHeads: sh.kvHeads, HeadDim: sh.hd,
					Window: sh.window, Scale: float32(1 / math.Sqrt(float64(sh.hd))),
				}
				want := refAttention(&a)
				var stG, stD AttentionStats
				got, dots := make([]float32, n*qDim), make([]float32, n*qDim)
				a.Out, a.Stats = got, &stG
				cpu.useGEMM = true
				cpu.Attend(&a)
				a.Out, a.Stats = dots, &stD
				cpu.useGEMM = false
				cpu.Attend(&a)
				cpu.useGEMM = true
				for i := range got {
					if d := math.Abs(float64(got[i]) - want[i]); d > 2e-5 {
						t.Fatalf("%+v pos0=%d n=%d: out[%d] = %g, want %g", sh, pos0, n, i, got[i], want[i])
					}
					if d := math.Abs(float64(dots[i]) - want[i]); d > 2e-5 {
						t.Fatalf("%+v pos0=%d n=%d: per-query out[%d] = %g, want %g", sh, pos0, n, i, dots[i], want[i])
					}
				}
				if stG.Rows != stD.Rows || stG.Weights != stD.Weights || math.Abs(stG.EntropySum-stD.EntropySum) > 1e-3 {
					t.Fatalf("%+v pos0=%d n=%d: stats %+v, per-query %+v", sh, pos0, n, stG, stD)
				}
			}
		}
	}
}

// TestAMXMatMul checks the AMX path (bf16 planes of activations and, for
// F16 and F32, of weights) against a float64 product of the stored
// weights, at float32 accuracy: its error must stay within a few times that
// of the float32 FMA GEMM on the same data, for every stored type, partial
// tiles of tokens and rows, and with and without bias.
func TestAMXMatMul(t *testing.T) {
	cpu := NewCPU(2)
	defer cpu.Close()
	if !cpu.useAMX {
		t.Skip("no AMX-BF16 on this CPU or OS")
	}
	rng := rand.New(rand.NewPCG(19, 20))
	for _, dt := range []DType{BF16, F16, F32} {
		for _, shape := range [][2]int{{32, 32}, {33, 64}, {100, 768}, {64, 2048}} {
			rows, cols := shape[0], shape[1]
			w, exact := encode(t, dt, rows, cols, randF32(rng, rows*cols))
			bias := randF32(rng, rows)
			ns := []int{8, 9, 31, 32, 33, 64, 70}
			if cols > 256 {
				ns = []int{9, 33, 70} // partial and whole tiles; keeps -race runs short
			}
			for _, n := range ns {
				x := randF32(rng, n*cols)
				x[0], x[1] = 1e-30, -3e4 // tiny and large activations survive the split
				// The float64 reference and each row's Σ|products|, once.
				want, mag := make([]float64, n*rows), make([]float64, n*rows)
				for tok := range n {
					for r := range rows {
						for c := range cols {
							p := exact[r*cols+c] * float64(x[tok*cols+c])
							want[tok*rows+r] += p
							mag[tok*rows+r] += math.Abs(p)
						}
					}
				}
				for _, b := range [][]float32{nil, bias} {
					amx, fma := make([]float32, n*rows), make([]float32, n*rows)
					cpu.useAMX = true
					cpu.MatMul(amx, x, n, w, b)
					cpu.useAMX = false
					cpu.MatMul(fma, x, n, w, b)
					cpu.useAMX = true
					var errAMX, errFMA float64
					for i := range want {
						ref := want[i]
						if b != nil {
							ref += float64(b[i%rows])
						}
						errAMX = math.Max(errAMX, math.Abs(float64(amx[i])-ref)/mag[i])
						errFMA = math.Max(errFMA, math.Abs(float64(fma[i])-ref)/mag[i])
					}
					// Relative to Σ|products|, float32 accumulation errs by
					// about √cols·2^-24; one bf16 plane too few errs by 2^-17
					// or more, and shows.
					if tol := 4 * math.Sqrt(float64(cols)) * 6e-8; errAMX > tol || errAMX > 8*errFMA+1e-12 {
						t.Fatalf("%s %dx%d n=%d bias=%v: AMX relative error %.3g (FMA GEMM %.3g, allowed %.3g)", dt, rows, cols, n, b != nil, errAMX, errFMA, tol)
					}
				}
			}
		}
	}
}
