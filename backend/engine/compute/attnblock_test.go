package compute

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionBlock: one block call gives what its parts give one by one:
// q, k and v as their own MatMul calls give them (to a float sum's
// rounding), q and k rotated by RoPE's definition (each pair i, i+rot/2 of
// a head's leading rot values turned by the table's angle at the
// position), k and v written into the cache row of the position, and the
// attention output that Attend gives over the cache, itself checked
// against the definition (refAttention). Types
// as in the quantized demos (Q4_0, Q8_0, Q4_K with a Q6_K v, whose k and v
// cannot be read side by side), the row kernels, partial rotation, a
// sliding window and a cache filled at earlier positions.
func TestAttentionBlock(t *testing.T) {
	sets := []struct {
		name                   string
		types                  [3]DType
		pack                   bool
		heads, kvHeads, hd, rd int
		window                 int
	}{
		{"q4_0 x16", [3]DType{Q4_0, Q4_0, Q4_0}, true, 8, 4, 32, 32, 0},
		{"q8_0 x16, 3 heads a group", [3]DType{Q8_0, Q8_0, Q8_0}, true, 6, 2, 16, 16, 0}, // 3 q panels a group: one goes alone
		{"q4_k with q6_k v", [3]DType{Q4_K, Q4_K, Q6_K}, true, 6, 6, 32, 32, 0},
		{"q4_0 rows, partial rotation, window", [3]DType{Q4_0, Q4_0, Q4_0}, false, 4, 2, 24, 8, 3},
	}
	rng := rand.New(rand.NewPCG(45, 46))
	const cols, maxPos = 256, 9
	for _, workers := range []int{1, 2, 3} {
		cpu := NewCPU(workers)
		for si, set := range sets {
			hd, kvDim, qDim := set.hd, set.kvHeads*set.hd, set.heads*set.hd
			name := fmt.Sprintf("%d workers, %s", workers, set.name)
			if set.kvHeads < cpu.pool.Workers() {
				continue
			}
			qw := fusedWeight(t, rng, cpu, set.types[0], qDim, cols, set.pack)
			kw := fusedWeight(t, rng, cpu, set.types[1], kvDim, cols, set.pack)
			vw := fusedWeight(t, rng, cpu, set.types[2], kvDim, cols, set.pack)
			qb, vb := randF32(rng, qDim), randF32(rng, kvDim)
			var kb []float32 // a bias on k in every other set, as Qwen2 has
			if si%2 == 1 {
				kb = randF32(rng, kvDim)
			}
			half := set.rd / 2
			cos, sin := make([]float32, maxPos*half), make([]float32, maxPos*half)
			for p := range maxPos {
				for i := range half {
					angle := float64(p) / math.Pow(10000, float64(2*i)/float64(set.rd))
					cos[p*half+i], sin[p*half+i] = float32(math.Cos(angle)), float32(math.Sin(angle))
				}
			}
			kCache, vCache := make([]float32, maxPos*kvDim), make([]float32, maxPos*kvDim)
			for i := range kCache {
				kCache[i], vCache[i] = rng.Float32()*2-1, rng.Float32()*2-1
			}
			for _, pos := range []int{0, 4, maxPos - 1} {
				x := randF32(rng, cols)
				q, att := make([]float32, qDim), make([]float32, qDim)
				kc, vc := kCache[pos*kvDim:(pos+1)*kvDim], vCache[pos*kvDim:(pos+1)*kvDim]
				a := &Attention{Q: q, K: kCache, V: vCache, Out: att, N: 1, Pos0: pos,
					Heads: set.heads, KVHeads: set.kvHeads, HeadDim: hd, Window: set.window, Scale: 1 / float32(math.Sqrt(float64(hd)))}
				ok := cpu.AttentionBlock(x, Product{Out: q, W: qw, Bias: qb}, Product{Out: kc, W: kw, Bias: kb}, Product{Out: vc, W: vw, Bias: vb},
					a, Rotary{Cos: cos, Sin: sin, Dim: set.rd})
				if !ok {
					t.Fatalf("%s: the block declined", name)
				}

				// The parts one by one: the products, rotated in float64.
				wq, wk, wv := make([]float32, qDim), make([]float32, kvDim), make([]float32, kvDim)
				cpu.MatMul(wq, x, 1, qw, qb)
				cpu.MatMul(wk, x, 1, kw, kb)
				cpu.MatMul(wv, x, 1, vw, vb)
				rotated := func(v []float32, heads int) []float64 {
					out := make([]float64, len(v))
					for i := range v {
						out[i] = float64(v[i])
					}
					for h := range heads {
						for i := range half {
							a, b := float64(v[h*hd+i]), float64(v[h*hd+half+i])
							c, s := float64(cos[pos*half+i]), float64(sin[pos*half+i])
							out[h*hd+i], out[h*hd+half+i] = a*c-b*s, b*c+a*s
						}
					}
					return out
				}
				check := func(what string, got []float32, want []float64, w Matrix) {
					var scale float64 // the largest product's rounding: the rotation mixes a head's rows
					for _, s := range absProducts(w, x) {
						scale = math.Max(scale, s)
					}
					for r := range want {
						tol := 2e-6*scale + 1e-5
						if math.Abs(float64(got[r])-want[r]) > tol || math.IsNaN(float64(got[r])) {
							t.Fatalf("%s, position %d: %s row %d = %g, want %g", name, pos, what, r, got[r], want[r])
						}
					}
				}
				check("q", q, rotated(wq, set.heads), qw)
				check("k", kc, rotated(wk, set.kvHeads), kw)
				check("v", vc, rotated(wv, 0), vw)

				// Over the block's own q and cache: Attend's kernels give the
				// same bits, the definition the same to float32 sums' rounding.
				byAttend := *a
				byAttend.Out = make([]float32, qDim)
				cpu.Attend(&byAttend)
				ref := refAttention(a)
				for i, want := range ref {
					if att[i] != byAttend.Out[i] {
						t.Fatalf("%s, position %d: attention value %d = %g, Attend gives %g", name, pos, i, att[i], byAttend.Out[i])
					}
					if math.Abs(float64(att[i])-want) > scoreRounding(a, i/hd) {
						t.Fatalf("%s, position %d: attention value %d = %g, want %g", name, pos, i, att[i], want)
					}
				}
			}
		}
		cpu.Close()
	}
}

// scoreRounding bounds how far float32 scores move head h's output of a
// one-token attention from the definition: a dot product of hd terms is off
// by up to about hd float32 roundings of Σ|q·k|, and a score off by δ moves
// the output by up to δ times the spread of the values, 2·max|v|.
func scoreRounding(a *Attention, h int) float64 {
	hd, kvDim := a.HeadDim, a.KVHeads*a.HeadDim
	g := h / (a.Heads / a.KVHeads)
	var sumAbs, maxV float64
	for j := 0; j <= a.Pos0; j++ {
		var s float64
		for d := range hd {
			s += math.Abs(float64(a.Q[h*hd+d]) * float64(a.K[j*kvDim+g*hd+d]))
			maxV = math.Max(maxV, math.Abs(float64(a.V[j*kvDim+g*hd+d])))
		}
		sumAbs = math.Max(sumAbs, s*float64(a.Scale))
	}
	return float64(hd)*6e-8*sumAbs*2*maxV + 1e-5
}

// TestAttentionBlockDeclines: calls the block does not take leave every
// output untouched and report false.
func TestAttentionBlockDeclines(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	cpu := NewCPU(2)
	defer cpu.Close()
	const cols = 64
	q8 := [3]DType{Q8_0, Q8_0, Q8_0}
	cases := []struct {
		name           string
		types          [3]DType
		n, kvHeads, hd int
		stats          bool
	}{
		{"float weights", [3]DType{BF16, BF16, BF16}, 1, 2, 16, false},
		{"two tokens", q8, 2, 2, 16, false},
		{"one KV group for two workers", q8, 1, 1, 16, false},
		{"statistics", q8, 1, 2, 16, true},
		{"heads of 24 rows in 16-row panels", q8, 1, 2, 24, false},
	}
	for _, c := range cases {
		if c.kvHeads == 1 && cpu.pool.Workers() == 1 || c.hd%x16Rows != 0 && !hasX16Kernels() {
			continue // one worker takes one group; the row kernels take any head size
		}
		heads, hd := 2*c.kvHeads, c.hd
		mk := func(dt DType, rows int) Matrix { return fusedWeight(t, rng, cpu, dt, rows, cols, true) }
		q, kc, vc, att := make([]float32, c.n*heads*hd), make([]float32, c.n*c.kvHeads*hd), make([]float32, c.n*c.kvHeads*hd), make([]float32, c.n*heads*hd)
		for _, s := range [][]float32{q, kc, vc, att} {
			for i := range s {
				s[i] = 7
			}
		}
		a := &Attention{Q: q, K: kc, V: vc, Out: att, N: c.n, Heads: heads, KVHeads: c.kvHeads, HeadDim: hd, Scale: 0.25}
		if c.stats {
			a.Stats = &AttentionStats{}
		}
		rot := Rotary{Cos: make([]float32, 8*hd), Sin: make([]float32, 8*hd), Dim: hd}
		x := randF32(rng, c.n*cols)
		if cpu.AttentionBlock(x, Product{Out: q, W: mk(c.types[0], heads*hd)}, Product{Out: kc, W: mk(c.types[1], c.kvHeads*hd)}, Product{Out: vc, W: mk(c.types[2], c.kvHeads*hd)}, a, rot) {
			t.Fatalf("%s: the block took the call", c.name)
		}
		for _, s := range [][]float32{q, kc, vc, att} {
			for i, v := range s {
				if v != 7 {
					t.Fatalf("%s: a declined call wrote value %d", c.name, i)
				}
			}
		}
	}
}
