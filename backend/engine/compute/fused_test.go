package compute

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fusedWeight makes a rows×cols matrix of type dt from random values,
// repacked for the x16 kernels when pack is set and the CPU has them.
func fusedWeight(t *testing.T, rng *rand.Rand, cpu *CPU, dt DType, rows, cols int, pack bool) Matrix {
	t.Helper()
	vals := randF32(rng, rows*cols)
	var w Matrix
	if dt.Quantized() {
		data, err := Quantize(dt, vals, cols)
		if err != nil {
			t.Fatal(err)
		}
		w = Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
	} else {
		w, _ = encode(t, dt, rows, cols, vals)
	}
	if pack && hasX16Kernels() {
		cpu.PackWeights([]*Matrix{&w})
	}
	return w
}

// absProducts is Σ|w·x| per row, the scale of a dot product's rounding.
func absProducts(w Matrix, x []float32) []float64 {
	deq := ToF32(w)
	s := make([]float64, w.Rows)
	for r := range w.Rows {
		for c := range w.Cols {
			s[r] += math.Abs(float64(deq[r*w.Cols+c]) * float64(x[c]))
		}
	}
	return s
}

// fusedSets are the products a layer fuses: GQA q/k/v (k and v a third of
// q, as in the demo models), types mixed as in Q4_K_M files (v in Q6_K),
// rows that are no multiple of 16, and every dtype of the few-token paths.
var fusedSets = []struct {
	name  string
	types [3]DType
	rows  [3]int
	cols  int
	pack  bool
}{
	{"q4_0 x16", [3]DType{Q4_0, Q4_0, Q4_0}, [3]int{96, 32, 32}, 256, true},
	{"q4_0 x16 odd panels", [3]DType{Q4_0, Q4_0, Q4_0}, [3]int{48, 32, 16}, 256, true}, // 3, 5 and 6 panels in all
	{"q4_k_m x16", [3]DType{Q4_K, Q4_K, Q6_K}, [3]int{96, 32, 32}, 512, true},
	{"q5_k odd rows", [3]DType{Q5_K, Q5_K, Q5_K}, [3]int{53, 21, 21}, 256, true},
	{"q4_0 rows", [3]DType{Q4_0, Q4_0, Q4_0}, [3]int{96, 37, 37}, 256, false},
	{"q8_0", [3]DType{Q8_0, Q8_0, Q8_0}, [3]int{200, 64, 64}, 256, false},
	{"q8_0 x16", [3]DType{Q8_0, Q8_0, Q8_0}, [3]int{96, 32, 32}, 256, true},
	{"q8_0 x16 and rows", [3]DType{Q8_0, Q8_0, Q4_0}, [3]int{96, 32, 32}, 96, true}, // 96 columns: not repackable
	{"bf16", [3]DType{BF16, BF16, BF16}, [3]int{300, 100, 100}, 96, false},
	{"f16", [3]DType{F16, F16, F16}, [3]int{130, 40, 40}, 64, false},
	{"f32 mixed bf16", [3]DType{F32, BF16, F32}, [3]int{77, 33, 33}, 48, false},
}

// TestMatVecsEqualsMatMuls: one fused call gives each product what its own
// MatMul gives, to the rounding of a float sum (the mat-vec kernels may
// take a row in a 4-row group or alone). Calls with new x must not reuse a
// worker's quantized copy of the last x.
func TestMatVecsEqualsMatMuls(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, workers := range []int{1, 2, 3} {
		cpu := NewCPU(workers)
		for _, set := range fusedSets {
			for k := 1; k <= 3; k++ {
				var ps, want [3]Product
				for i := range k {
					w := fusedWeight(t, rng, cpu, set.types[i], set.rows[i], set.cols, set.pack)
					var bias []float32
					if i != 1 {
						bias = randF32(rng, w.Rows)
					}
					ps[i] = Product{Out: make([]float32, w.Rows+3), W: w, Bias: bias}
					want[i] = Product{Out: make([]float32, w.Rows), W: w, Bias: bias}
				}
				for call := range 3 {
					x := randF32(rng, set.cols)
					x[5] = 25 // an outlier sets the activation scales
					for i := range k {
						ps[i].Out[ps[i].W.Rows] = 7 // beyond the rows: must stay
						cpu.MatMul(want[i].Out, x, 1, want[i].W, want[i].Bias)
					}
					cpu.MatVecs(x, ps[:k])
					for i := range k {
						scale := absProducts(ps[i].W, x)
						for r := range ps[i].W.Rows {
							got, ref := float64(ps[i].Out[r]), float64(want[i].Out[r])
							if math.Abs(got-ref) > 1e-6*scale[r]+1e-6 || math.IsNaN(got) {
								t.Fatalf("%d workers, %s, %d products, call %d: product %d row %d = %g, MatMul gives %g",
									workers, set.name, k, call, i, r, got, ref)
							}
						}
						if ps[i].Out[ps[i].W.Rows] != 7 {
							t.Fatalf("%s: product %d wrote past its rows", set.name, i)
						}
					}
				}
			}
		}
		cpu.Close()
	}
}

// TestGatedMatVec: gate.Out = act(x·gateᵀ + b)·(x·upᵀ + b), with the
// activations as published (SiLU: g/(1+e^-g); GELU, tanh form:
// ½g(1+tanh(√(2/π)(g+0.044715g³)))), computed in float64 from the two
// products of separate MatMul calls.
func TestGatedMatVec(t *testing.T) {
	silu := func(g float64) float64 { return g / (1 + math.Exp(-g)) }
	gelu := func(g float64) float64 {
		return 0.5 * g * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(g+0.044715*g*g*g)))
	}
	rng := rand.New(rand.NewPCG(43, 44))
	for _, workers := range []int{1, 2, 3} {
		cpu := NewCPU(workers)
		for _, set := range fusedSets {
			for _, act := range []Activation{SiLU, GELUTanh} {
				name := fmt.Sprintf("%d workers, %s, activation %d", workers, set.name, act)
				rows := set.rows[0] + 64
				gw := fusedWeight(t, rng, cpu, set.types[0], rows, set.cols, set.pack)
				uw := fusedWeight(t, rng, cpu, set.types[1], rows, set.cols, set.pack)
				gb, ub := randF32(rng, rows), []float32(nil)
				if act == GELUTanh { // up with and without a bias
					ub = randF32(rng, rows)
				}
				gate := Product{Out: make([]float32, rows), W: gw, Bias: gb}
				up := Product{Out: make([]float32, rows), W: uw, Bias: ub}
				for call := range 2 {
					x := randF32(rng, set.cols)
					g, u := make([]float32, rows), make([]float32, rows)
					cpu.MatMul(g, x, 1, gw, gb)
					cpu.MatMul(u, x, 1, uw, ub)
					cpu.GatedMatVec(x, gate, up, act)
					gs, us := absProducts(gw, x), absProducts(uw, x)
					for r := range rows {
						a := silu
						if act == GELUTanh {
							a = gelu
						}
						gv, uv := float64(g[r]), float64(u[r])
						want := a(gv) * uv
						// the products' rounding, through the activation (slope ≤ 1.13) and the product
						tol := 1e-6*(gs[r]*1.2*math.Abs(uv)+us[r]*math.Abs(a(gv))) + 2e-6*math.Max(1, math.Abs(want))
						if got := float64(gate.Out[r]); math.Abs(got-want) > tol || math.IsNaN(got) {
							t.Fatalf("%s, call %d: row %d = %g, want %g", name, call, r, got, want)
						}
						if got := float64(up.Out[r]); math.Abs(got-uv) > 1e-6*us[r]+1e-6 {
							t.Fatalf("%s, call %d: up row %d = %g, MatMul gives %g", name, call, r, got, uv)
						}
					}
				}
			}
		}
		cpu.Close()
	}
}
