package metal

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"unsafe"

	"energyprofiler/backend/engine/compute"
)

// Check is one kernel's self-test result: the largest difference from the
// CPU backend, relative to the largest CPU value, and the tolerance.
type Check struct {
	Op     string  `json:"op"`
	MaxErr float64 `json:"max_error"`
	Tol    float64 `json:"tolerance"`
	Err    string  `json:"error,omitempty"`
}

// Passed reports whether the check is within its tolerance.
func (c Check) Passed() bool { return c.Err == "" && c.MaxErr <= c.Tol }

// Report is a whole self-test.
type Report struct {
	Device string  `json:"device"`
	Checks []Check `json:"checks"`
}

// Passed reports whether every check passed.
func (r Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed() {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Failed lists the checks that did not pass, for a reason to show.
func (r Report) Failed() string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed() {
			if c.Err != "" {
				out = append(out, c.Op+": "+c.Err)
			} else {
				out = append(out, fmt.Sprintf("%s: error %.2g > %.2g", c.Op, c.MaxErr, c.Tol))
			}
		}
	}
	return strings.Join(out, "; ")
}

// Tolerances, relative to the largest reference value. Sums of products
// run in another order on the GPU (and the GPU's exp and tanh are not
// libm's): a few float32 ulps of the sum's scale. Copies are exact.
const (
	tolExact = 0
	tolSum   = 2e-5
	tolExp   = 1e-5
	// A K-quant weight is d·sc·q − dmin·m: a GPU may fuse the multiply and
	// subtract where the CPU rounds the product first (a few ulps).
	tolKQuantDecode = 1e-6
)

// dtypeNamed finds the compute.DType whose name is name, if this build's
// compute package has it (the quantized types arrive with GGUF support).
func dtypeNamed(name string) (compute.DType, bool) {
	for d := range 256 {
		if compute.DType(d).String() == name {
			return compute.DType(d), true
		}
	}
	return 0, false
}

// SelfTest runs every operation of the backend on dev with random inputs
// (odd sizes, so partial threadgroups are exercised) against the CPU
// backend. The backend is closed afterwards, and dev with it.
func SelfTest(dev Device, seed uint64) (Report, error) {
	gpu, err := New(dev)
	if err != nil {
		return Report{}, err
	}
	defer gpu.Close()
	cpu := compute.NewCPU(1)
	defer cpu.Close()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	st := &selfTest{gpu: gpu, cpu: cpu, rng: rng}
	st.run()
	return Report{Device: dev.Name(), Checks: st.checks}, nil
}

type selfTest struct {
	gpu    *Backend
	cpu    compute.Backend
	rng    *rand.Rand
	checks []Check
}

// pair is one tensor in both backends' memory with the same contents.
type pair struct{ g, c []float32 }

func (s *selfTest) tensor(n int, scale float64) pair {
	p := pair{s.gpu.Alloc(n), s.cpu.Alloc(n)}
	for i := range n {
		v := float32(s.rng.NormFloat64() * scale)
		p.g[i], p.c[i] = v, v
	}
	return p
}

func (s *selfTest) host(n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(s.rng.NormFloat64() * scale)
	}
	return x
}

func (s *selfTest) matrix(dt compute.DType, rows, cols int) compute.Matrix {
	m := compute.Matrix{DType: dt, Rows: rows, Cols: cols, Data: make([]byte, rows*cols*dt.Size())}
	for i := range rows * cols {
		v := float32(s.rng.NormFloat64() * 0.5)
		switch dt {
		case compute.F32:
			binary.LittleEndian.PutUint32(m.Data[4*i:], math.Float32bits(v))
		case compute.BF16:
			binary.LittleEndian.PutUint16(m.Data[2*i:], uint16(math.Float32bits(v)>>16))
		case compute.F16:
			binary.LittleEndian.PutUint16(m.Data[2*i:], halfBits(v))
		}
	}
	return m
}

// halfBits narrows a float32 in the normal half range by truncation.
func halfBits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	if exp <= 0 {
		return sign
	}
	return sign | uint16(exp)<<10 | uint16(b>>13&0x3ff)
}

// check flushes both backends and compares out.
func (s *selfTest) check(op string, tol float64, outs ...pair) {
	c := Check{Op: op, Tol: tol}
	if err := s.gpu.Flush(); err != nil {
		c.Err = err.Error()
		s.checks = append(s.checks, c)
		return
	}
	_ = s.cpu.Flush()
	var scale, diff float64
	for _, o := range outs {
		for i := range o.c {
			scale = max(scale, math.Abs(float64(o.c[i])))
		}
	}
	for _, o := range outs {
		for i := range o.c {
			d := math.Abs(float64(o.g[i]) - float64(o.c[i]))
			if math.IsNaN(float64(o.g[i])) != math.IsNaN(float64(o.c[i])) {
				d = math.Inf(1)
			}
			diff = max(diff, d)
		}
	}
	c.MaxErr = diff / max(scale, 1e-30)
	s.checks = append(s.checks, c)
}

func (s *selfTest) run() {
	const rows, cols = 37, 72
	for _, dt := range []compute.DType{compute.F32, compute.F16, compute.BF16} {
		w := s.matrix(dt, rows, cols)
		for _, n := range []int{1, 11} {
			x := s.tensor(n*cols, 1)
			out := s.tensor(n*rows, 0)
			bias := s.host(rows, 0.1)
			s.gpu.MatMul(out.g, x.g, n, w, bias)
			s.cpu.MatMul(out.c, x.c, n, w, bias)
			s.check(fmt.Sprintf("matmul %s n=%d", dt, n), tolSum, out)
		}
		ids := []int{3, 0, 36, 3}
		out := s.tensor(len(ids)*cols, 0)
		s.gpu.Embed(out.g, w, ids)
		s.cpu.Embed(out.c, w, ids)
		s.check("embed "+dt.String(), tolExact, out)
	}

	// The GGUF block types, where this build has them. The GPU multiplies
	// the decoded weights with float activations (as ggml's Metal kernels
	// do); the CPU's quantized kernels would round the activations to int8
	// blocks first (as ggml's CPU path does), so the reference is the CPU's
	// float product of the same weights decoded by compute.DequantizeRow.
	for _, name := range []string{"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"} {
		dt, ok := dtypeNamed(name)
		if !ok {
			continue
		}
		q := QuantTypes[name]
		qcols := 2 * q.Values
		w := compute.Matrix{DType: dt, Rows: rows, Cols: qcols, Data: s.blocks(name, rows*qcols/q.Values)}
		decoded := compute.ToF32(w)
		wf := compute.Matrix{DType: compute.F32, Rows: rows, Cols: qcols, Data: unsafe.Slice((*byte)(unsafe.Pointer(&decoded[0])), 4*len(decoded))}
		for _, n := range []int{1, 11} {
			x := s.tensor(n*qcols, 1)
			out := s.tensor(n*rows, 0)
			bias := s.host(rows, 0.1)
			s.gpu.MatMul(out.g, x.g, n, w, bias)
			s.cpu.MatMul(out.c, x.c, n, wf, bias)
			s.check(fmt.Sprintf("matmul %s n=%d", name, n), tolSum, out)
		}
		ids := []int{3, 0, 36, 3}
		out := s.tensor(len(ids)*qcols, 0)
		s.gpu.Embed(out.g, w, ids)
		s.cpu.Embed(out.c, w, ids)
		tol := float64(tolExact)
		if name == "Q4_K" || name == "Q5_K" {
			tol = tolKQuantDecode
		}
		s.check("embed "+name, tol, out)
	}

	// RMSNorm, in place and not.
	const dim, n = 300, 5
	x, out := s.tensor(n*dim, 2), s.tensor(n*dim, 0)
	wn := s.host(dim, 1)
	s.gpu.RMSNorm(out.g, x.g, n, wn, 1e-6)
	s.cpu.RMSNorm(out.c, x.c, n, wn, 1e-6)
	s.gpu.RMSNorm(x.g, x.g, n, wn, 1e-5)
	s.cpu.RMSNorm(x.c, x.c, n, wn, 1e-5)
	s.check("rmsnorm", tolSum, out, x)

	// RoPE over a partial rotary dim.
	const heads, hd, rot, pos0 = 3, 16, 12, 5
	q := s.tensor(n*heads*hd, 1)
	cos, sin := s.host((pos0+n)*rot/2, 1), s.host((pos0+n)*rot/2, 1)
	s.gpu.RoPE(q.g, n, heads, hd, rot, pos0, cos, sin)
	s.cpu.RoPE(q.c, n, heads, hd, rot, pos0, cos, sin)
	s.check("rope", tolSum, q)

	// Attention: grouped-query, full and windowed, with deep statistics;
	// 1100 cached positions cross the kernel's key blocks.
	for _, win := range []int{0, 7} {
		const h, kvh, d, pos = 4, 2, 40, 1100
		qa := s.tensor(n*h*d, 1)
		k, v := s.tensor((pos+n)*kvh*d, 1), s.tensor((pos+n)*kvh*d, 1)
		o := s.tensor(n*h*d, 0)
		var sg, sc compute.AttentionStats
		a := compute.Attention{N: n, Pos0: pos, Heads: h, KVHeads: kvh, HeadDim: d, Window: win, Scale: 0.3}
		ag, ac := a, a
		ag.Q, ag.K, ag.V, ag.Out, ag.Stats = qa.g, k.g, v.g, o.g, &sg
		ac.Q, ac.K, ac.V, ac.Out, ac.Stats = qa.c, k.c, v.c, o.c, &sc
		s.gpu.Attend(&ag)
		s.cpu.Attend(&ac)
		name := fmt.Sprintf("attention window=%d", win)
		s.check(name, tolExp, o)
		st := Check{Op: name + " statistics", Tol: 1e-4}
		if sg.Rows != sc.Rows || sg.Weights != sc.Weights {
			st.Err = fmt.Sprintf("rows/weights %d/%d, CPU %d/%d", sg.Rows, sg.Weights, sc.Rows, sc.Weights)
		}
		st.MaxErr = max(math.Abs(sg.EntropySum-sc.EntropySum)/max(sc.EntropySum, 1),
			math.Abs(float64(sg.Small-sc.Small))/float64(max(sc.Weights, 1)))
		s.checks = append(s.checks, st)
	}

	// Element-wise operations on an odd length.
	const m = 1001
	g, u := s.tensor(m, 3), s.tensor(m, 1)
	s.gpu.SwiGLU(g.g, u.g)
	s.cpu.SwiGLU(g.c, u.c)
	s.check("swiglu", tolExp, g)
	g, u = s.tensor(m, 3), s.tensor(m, 1)
	s.gpu.GeGLU(g.g, u.g)
	s.cpu.GeGLU(g.c, u.c)
	s.check("geglu", tolExp, g)
	a, b := s.tensor(m, 1), s.tensor(m, 1)
	s.gpu.Scale(a.g, 1.5)
	s.cpu.Scale(a.c, 1.5)
	s.gpu.Add(a.g, b.g)
	s.cpu.Add(a.c, b.c)
	s.gpu.AddScaled(a.g, b.g, -0.25)
	s.cpu.AddScaled(a.c, b.c, -0.25)
	s.check("scale, add, add_scaled", tolSum, a)

	// MoE gather and weighted scatter.
	const width = 70
	src, dst := s.tensor(9*width, 1), s.tensor(3*width, 0)
	rowsSel := []int{7, 2, 5}
	s.gpu.Gather(dst.g, src.g, rowsSel, width)
	s.cpu.Gather(dst.c, src.c, rowsSel, width)
	s.check("gather", tolExact, dst)
	wts := []float32{0.5, 0.25, 0.125}
	s.gpu.ScatterAdd(src.g, dst.g, rowsSel, wts, width)
	s.cpu.ScatterAdd(src.c, dst.c, rowsSel, wts, width)
	s.check("scatter_add", tolSum, src)

	// Probe: activation statistics.
	px := s.tensor(5000, 1)
	var pg, pc compute.Probe
	pg.Small, pc.Small, pg.CountNegative, pc.CountNegative = 0.01, 0.01, true, true
	s.gpu.Probe(&pg, px.g)
	s.cpu.Probe(&pc, px.c)
	c := Check{Op: "probe", Tol: 1e-4}
	if err := s.gpu.Flush(); err != nil {
		c.Err = err.Error()
	} else if pg.N != pc.N || pg.Below != pc.Below || pg.Negative != pc.Negative || pg.MaxAbs != pc.MaxAbs {
		c.Err = fmt.Sprintf("N/below/negative/max %d/%d/%d/%g, CPU %d/%d/%d/%g", pg.N, pg.Below, pg.Negative, pg.MaxAbs, pc.N, pc.Below, pc.Negative, pc.MaxAbs)
	} else {
		c.MaxErr = max(math.Abs(pg.Sum-pc.Sum)/math.Sqrt(pc.SumSq*float64(pc.N)), math.Abs(pg.SumSq-pc.SumSq)/pc.SumSq)
	}
	s.checks = append(s.checks, c)
}

// blocks makes count random blocks of a GGUF type.
func (s *selfTest) blocks(name string, count int) []byte { return RandomBlocks(s.rng, name, count) }

// RandomBlocks makes count random blocks of the GGUF type name (see
// QuantTypes): random quants and scales, with finite fp16 block scales of
// ±2^-6 to 2^-3 so products stay in range. For self-tests.
func RandomBlocks(rng *rand.Rand, name string, count int) []byte {
	q := QuantTypes[name]
	data := make([]byte, count*q.Bytes)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	half := func(b []byte) {
		binary.LittleEndian.PutUint16(b, uint16(rng.IntN(2))<<15|uint16(9+rng.IntN(3))<<10|uint16(rng.IntN(1024)))
	}
	for b := 0; b < len(data); b += q.Bytes {
		switch name {
		case "Q8_0", "Q4_0":
			half(data[b:])
		case "Q4_K", "Q5_K":
			half(data[b:])
			half(data[b+2:])
		case "Q6_K":
			half(data[b+208:])
		}
	}
	return data
}
