package compute

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func randF32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// encode stores values as dt; it returns the matrix and the exact values it holds.
func encode(t *testing.T, dt DType, rows, cols int, vals []float32) (Matrix, []float64) {
	t.Helper()
	data := make([]byte, len(vals)*dt.Size())
	exact := make([]float64, len(vals))
	for i, v := range vals {
		switch dt {
		case F32:
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
			exact[i] = float64(v)
		case BF16:
			u := uint16(math.Float32bits(v) >> 16) // truncation is fine: we keep the exact value
			binary.LittleEndian.PutUint16(data[2*i:], u)
			exact[i] = float64(BF16ToF32(u))
		case F16:
			u := f16Bits(v)
			binary.LittleEndian.PutUint16(data[2*i:], u)
			exact[i] = float64(F16ToF32(u))
		}
	}
	m := Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	return m, exact
}

// f16Bits narrows by truncation (normal range only), enough for test data.
func f16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	if exp <= 0 {
		return sign
	}
	return sign | uint16(exp)<<10 | uint16(b>>13&0x3ff)
}

func TestF16ToF32(t *testing.T) {
	cases := map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 5.960464477539063e-08, 0x7bff: 65504, 0x0000: 0, 0x3555: 0.33325195}
	for in, want := range cases {
		if got := F16ToF32(in); got != want {
			t.Errorf("F16ToF32(%#x) = %g, want %g", in, got, want)
		}
	}
	if !math.IsInf(float64(F16ToF32(0x7c00)), 1) || !math.IsNaN(float64(F16ToF32(0x7e00))) {
		t.Error("F16ToF32 mishandles inf/NaN")
	}
}

// TestMatMul checks mat-vec (n=1) and mat-mat (n>1) for every dtype and
// awkward shapes against a float64 product of the exact stored weights.
func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, dt := range []DType{F32, BF16, F16} {
		for _, shape := range [][3]int{{1, 1, 1}, {7, 13, 1}, {33, 70, 3}, {64, 128, 9}, {130, 257, 5}, {5, 1000, 17}} {
			rows, cols, n := shape[0], shape[1], shape[2]
			w, exact := encode(t, dt, rows, cols, randF32(rng, rows*cols))
			x := randF32(rng, n*cols)
			bias := randF32(rng, rows)
			out := make([]float32, n*rows)
			cpu.MatMul(out, x, n, w, bias)
			one := make([]float32, rows)
			for tok := range n {
				cpu.MatMul(one, x[tok*cols:(tok+1)*cols], 1, w, bias)
				for r := range rows {
					var want float64
					for c := range cols {
						want += exact[r*cols+c] * float64(x[tok*cols+c])
					}
					want += float64(bias[r])
					tol := 1e-4 * math.Sqrt(float64(cols))
					if d := math.Abs(float64(out[tok*rows+r]) - want); d > tol {
						t.Fatalf("%s %v: batched out[%d][%d] = %g, want %g", dt, shape, tok, r, out[tok*rows+r], want)
					}
					if d := math.Abs(float64(one[r]) - want); d > tol {
						t.Fatalf("%s %v: mat-vec out[%d] = %g, want %g", dt, shape, r, one[r], want)
					}
				}
			}
		}
	}
}

func TestKernelsMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 200, 768} {
		a, b := randF32(rng, n), randF32(rng, n)
		w := make([]uint16, n)
		for i := range w {
			w[i] = uint16(rng.Uint32())&0x7fff | 0x3000 // finite, moderate
		}
		if d := math.Abs(float64(dotF32(a, b) - dotF32Generic(a, b))); d > 1e-4*float64(n+1) {
			t.Errorf("dotF32 n=%d differs by %g", n, d)
		}
		g, want := dotBF16(w, a), dotBF16Generic(w, a)
		if d := math.Abs(float64(g - want)); d > 1e-4*math.Max(1, math.Abs(float64(want))) {
			t.Errorf("dotBF16 n=%d = %g, generic %g", n, g, want)
		}
		if n > 0 {
			if got, want := maxF32(a), maxF32Generic(a); got != want {
				t.Errorf("maxF32 n=%d = %g, want %g", n, got, want)
			}
			s1, s2 := append([]float32(nil), a...), append([]float32(nil), a...)
			scaleF32(s1, 0.3)
			scaleF32Generic(s2, 0.3)
			for i := range s1 {
				if s1[i] != s2[i] {
					t.Fatalf("scaleF32 n=%d differs at %d", n, i)
				}
			}
		}
		// Element-wise kernels do the scalar form's operations in its
		// order, so they must agree exactly.
		wf := randF32(rng, n)
		o1, o2 := make([]float32, n), make([]float32, n)
		scaleMulF32(o1, a, wf, 0.7)
		scaleMulF32Generic(o2, a, wf, 0.7)
		a1, b1 := append([]float32(nil), a...), append([]float32(nil), b...)
		a2, b2 := append([]float32(nil), a...), append([]float32(nil), b...)
		rotate(a1, b1, wf, o2)
		rotateGeneric(a2, b2, wf, o2)
		s1, s2 := append([]float32(nil), b...), append([]float32(nil), b...)
		addF32(s1, a)
		addF32Generic(s2, a)
		for i := range n {
			if o1[i] != o2[i] || a1[i] != a2[i] || b1[i] != b2[i] || s1[i] != s2[i] {
				t.Fatalf("element-wise kernels n=%d differ from the scalar form at %d", n, i)
			}
		}
		d1, d2 := append([]float32(nil), b...), append([]float32(nil), b...)
		axpy(d1, 0.5, a)
		axpyGeneric(d2, 0.5, a)
		for i := range d1 {
			if math.Abs(float64(d1[i]-d2[i])) > 1e-6 {
				t.Fatalf("axpy n=%d differs at %d", n, i)
			}
		}
	}
}

func TestAttentionWindowAndStats(t *testing.T) {
	cpu := NewCPU(2)
	defer cpu.Close()
	// One head, head dim 2, 4 cached positions; the query matches key 3
	// strongly, and a window of 2 hides keys 0 and 1.
	k := []float32{10, 0, 10, 0, 0, 1, 0, 10}
	v := []float32{100, 100, 100, 100, 1, 2, 3, 4}
	q := []float32{0, 1}
	out := make([]float32, 2)
	var st AttentionStats
	cpu.Attend(&Attention{Q: q, K: k, V: v, Out: out, N: 1, Pos0: 3, Heads: 1, KVHeads: 1, HeadDim: 2, Window: 2, Scale: 1, Stats: &st})
	p2 := 1 / (1 + math.Exp(9)) // softmax over scores 1 and 10
	want0 := p2*1 + (1-p2)*3
	if math.Abs(float64(out[0])-want0) > 1e-5 {
		t.Errorf("windowed attention out[0] = %g, want %g", out[0], want0)
	}
	if st.Rows != 1 || st.Weights != 2 || st.Small != 1 {
		t.Errorf("stats = %+v, want 1 row, 2 weights, 1 small", st)
	}
	wantEnt := -(p2*math.Log(p2) + (1-p2)*math.Log(1-p2))
	if math.Abs(st.EntropySum-wantEnt) > 1e-5 {
		t.Errorf("entropy %g, want %g", st.EntropySum, wantEnt)
	}
}

type countTask struct {
	hits  []atomic.Int32
	calls atomic.Int32
}

func (c *countTask) Run(_, lo, hi int) {
	c.calls.Add(1)
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

// TestPoolCoversEveryItemOnce runs many back-to-back tasks of varying size
// (run it with -race) and checks each item ran exactly once.
func TestPoolCoversEveryItemOnce(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for round := range 2000 {
		n := 1 + round%97
		task := &countTask{hits: make([]atomic.Int32, n)}
		p.Parallel(n, 1+round%5, task)
		for i := range task.hits {
			if got := task.hits[i].Load(); got != 1 {
				t.Fatalf("round %d: item %d ran %d times", round, i, got)
			}
		}
	}
}

// stallTask stalls the first chunk a helper (worker > 0) runs until
// release is closed, as if the OS had descheduled that helper mid-task.
type stallTask struct {
	countTask
	stalled atomic.Bool
	release chan struct{}
}

func (s *stallTask) Run(worker, lo, hi int) {
	if worker > 0 && s.stalled.CompareAndSwap(false, true) {
		<-s.release
	}
	s.countTask.Run(worker, lo, hi)
}

// TestPoolStealsFromAStalledWorker stalls a helper inside its first chunk
// and checks the caller runs every other item meanwhile, the stalled
// worker's own share included: stalling holds the task up by one chunk,
// not by a share.
func TestPoolStealsFromAStalledWorker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for a helper")
	}
	p := NewPool(2)
	defer p.Close()
	const n, grain = 64, 2
	for round := range 50 {
		task := &stallTask{countTask: countTask{hits: make([]atomic.Int32, n)}, release: make(chan struct{})}
		done := make(chan struct{})
		go func() { p.Parallel(n, grain, task); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ran := 0
			for i := range task.hits {
				ran += int(task.hits[i].Load())
			}
			if ran == n || (task.stalled.Load() && ran == n-grain) {
				break // all done (the helper came too late to stall) or all but the stalled chunk
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d items ran while a helper stalled; the others were not taken over", round, ran, n)
			}
			time.Sleep(100 * time.Microsecond)
		}
		close(task.release)
		<-done
		for i := range task.hits {
			if got := task.hits[i].Load(); got != 1 {
				t.Fatalf("round %d: item %d ran %d times", round, i, got)
			}
		}
	}
}

// TestPoolHelpersParkWhenIdle checks that an idle pool stops spinning: an
// engine waiting for its next request must not keep a core busy. After a
// task, every helper must park within a generous bound (spinFor is µs), and
// a parked pool must still run the next task in full.
func TestPoolHelpersParkWhenIdle(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for a helper")
	}
	p := NewPool(2)
	defer p.Close()
	for round := range 3 {
		task := &countTask{hits: make([]atomic.Int32, 64)}
		p.Parallel(64, 1, task)
		deadline := time.Now().Add(5 * time.Second)
		for !allParked(p) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: a helper still spins 5 s after its last task", round)
			}
			time.Sleep(time.Millisecond)
		}
		for i := range task.hits {
			if got := task.hits[i].Load(); got != 1 {
				t.Fatalf("round %d: item %d ran %d times", round, i, got)
			}
		}
	}
}

func allParked(p *Pool) bool {
	for _, h := range p.helper {
		if !h.parked.Load() {
			return false
		}
	}
	return true
}

func TestRealignCopiesMisalignedData(t *testing.T) {
	buf := make([]byte, 9)
	buf[1], buf[2] = 0x80, 0x3f // 1.0 as bf16 at an odd address
	m := Matrix{DType: BF16, Rows: 1, Cols: 4, Data: buf[1:9]}
	if Aligned(m) {
		t.Skip("allocator gave an odd-aligned slice start; cannot test")
	}
	r := Realign(m)
	if !Aligned(r) {
		t.Fatal("Realign returned misaligned data")
	}
	row := make([]float32, 4)
	WidenRow(row, r, 0)
	if row[0] != 1 {
		t.Errorf("row[0] = %g, want 1", row[0])
	}
}

func TestExpAndSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 16, 33, 300} {
		x := randF32(rng, n)
		for i := range x {
			x[i] *= 20
		}
		x[0] = -200 // underflows to ~0
		got := append([]float32(nil), x...)
		sum := expSub(got, 3)
		var want float64
		for i, v := range x {
			e := math.Exp(float64(v - 3))
			want += e
			if d := math.Abs(float64(got[i]) - e); d > 2e-7*e+1e-37 {
				t.Fatalf("exp(%g) = %g, want %g", v-3, got[i], e)
			}
		}
		if math.Abs(float64(sum)-want) > 1e-5*want+1e-37 {
			t.Errorf("sum %g, want %g", sum, want)
		}
		g, u := append([]float32(nil), x...), randF32(rng, n)
		swiglu(g, u)
		for i, v := range x {
			w := float64(v) / (1 + math.Exp(-float64(v))) * float64(u[i])
			if math.Abs(float64(g[i])-w) > 1e-6*math.Max(1, math.Abs(w)) {
				t.Fatalf("swiglu(%g, %g) = %g, want %g", v, u[i], g[i], w)
			}
		}
	}
}

func TestMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{0, 5, 16, 31, 1024, 1040, 5000} {
		x := randF32(rng, n)
		for i := 0; i < n; i += 7 {
			x[i] *= 1e-4
		}
		s, q, m, b := Moments(x, 1e-3)
		ws, wq, wm, wb := momentsGeneric(x, 1e-3)
		if math.Abs(s-ws) > 1e-4*math.Sqrt(float64(n)+1) || math.Abs(q-wq) > 1e-5*wq+1e-9 || m != wm || b != wb {
			t.Errorf("n=%d: moments (%g %g %g %d), want (%g %g %g %d)", n, s, q, m, b, ws, wq, wm, wb)
		}
	}
}

// TestKernelName logs which kernels run; run the package with
// GODEBUG=cpu.avx512f=off (and cpu.avx2=off) to test the other paths.
func TestKernelName(t *testing.T) {
	c := NewCPU(1)
	defer c.Close()
	t.Log(c.Name())
}

// TestAttendKernels checks the fused decode-attention kernels (where the
// CPU has them) against a float64 dot product and weighted sum, for head
// sizes of 1 to 9 vectors (the weighted sum takes 4 at a time, then 1) and
// positions strided as in the KV cache.
func TestAttendKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, hd := range []int{16, 32, 48, 64, 80, 128, 144} {
		for _, n := range []int{1, 2, 7, 100} {
			stride := 3*hd + 16
			q, k, v := randF32(rng, hd), randF32(rng, n*stride), randF32(rng, n*stride)
			s := make([]float32, n)
			if !attendScores(s, q, k, stride, 0.125) {
				t.Skip("no fused attention kernels on this CPU or build")
			}
			for j := range n {
				var want, scale float64
				for d := range hd {
					want += float64(q[d]) * float64(k[j*stride+d])
					scale += math.Abs(float64(q[d]) * float64(k[j*stride+d]))
				}
				if d := math.Abs(float64(s[j]) - 0.125*want); d > 1e-6*scale {
					t.Fatalf("hd %d n %d: score %d = %g, want %g", hd, n, j, s[j], 0.125*want)
				}
			}
			out := make([]float32, hd)
			if !attendWeighted(out, s, v, stride) {
				t.Fatal("weighted sum kernel missing where the scores kernel ran")
			}
			for d := range hd {
				var want, scale float64
				for j := range n {
					want += float64(s[j]) * float64(v[j*stride+d])
					scale += math.Abs(float64(s[j]) * float64(v[j*stride+d]))
				}
				if e := math.Abs(float64(out[d]) - want); e > 1e-6*scale {
					t.Fatalf("hd %d n %d: out[%d] = %g, want %g", hd, n, d, out[d], want)
				}
			}
		}
	}
}

// refAttention is causal attention by its definition, in float64.
func refAttention(a *Attention) []float64 {
	hd, kvDim, qDim := a.HeadDim, a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
	out := make([]float64, a.N*qDim)
	for q := range a.N {
		pos := a.Pos0 + q
		for h := range a.Heads {
			g := h / (a.Heads / a.KVHeads)
			var w []float64
			var keys []int
			for j := 0; j <= pos; j++ {
				if a.Window > 0 && j <= pos-a.Window {
					continue
				}
				var s float64
				for d := range hd {
					s += float64(a.Q[q*qDim+h*hd+d]) * float64(a.K[j*kvDim+g*hd+d])
				}
				w, keys = append(w, s*float64(a.Scale)), append(keys, j)
			}
			m := math.Inf(-1)
			for _, v := range w {
				m = math.Max(m, v)
			}
			var sum float64
			for i := range w {
				w[i] = math.Exp(w[i] - m)
				sum += w[i]
			}
			for i, j := range keys {
				for d := range hd {
					out[q*qDim+h*hd+d] += w[i] / sum * float64(a.V[j*kvDim+g*hd+d])
				}
			}
		}
	}
	return out
}
