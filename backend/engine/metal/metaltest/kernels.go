package metaltest

import (
	"fmt"
	"math"

	"energyprofiler/backend/engine/metal"
)

// kernel is the Go semantics of one MSL kernel: what each of its
// threadgroups computes, over the grid it is dispatched with. threads is
// the threadgroup size the MSL is written for (0: any multiple of 32);
// buffers is how many device buffers it binds after its arguments.
type kernel struct {
	threads, buffers int
	run              func(d metal.Dispatch, b []view) error
}

var kernels = map[string]kernel{
	"mul_mv_f32":  {metal.MVRows * metal.SIMDWidth, 4, mulMV(f32Elem)},
	"mul_mv_f16":  {metal.MVRows * metal.SIMDWidth, 4, mulMV(f16Elem)},
	"mul_mv_bf16": {metal.MVRows * metal.SIMDWidth, 4, mulMV(bf16Elem)},
	"embed_f32":   {256, 3, embed(f32Elem)},
	"embed_f16":   {256, 3, embed(f16Elem)},
	"embed_bf16":  {256, 3, embed(bf16Elem)},
	"rms_norm":    {0, 3, rmsNorm},
	"rope":        {0, 3, rope},
	"attention":   {metal.AttThreads, 5, attention},
	"swiglu":      {0, 2, elementwise(func(a metal.EltArgs, g, u float32) float32 { return g / (1 + exp32(-g)) * u })},
	"geglu": {0, 2, elementwise(func(a metal.EltArgs, g, u float32) float32 {
		const c = 0.7978845608028654
		x := float64(g)
		return float32(0.5*x*(1+math.Tanh(c*(x+0.044715*x*x*x)))) * u
	})},
	"scale":       {0, 1, scale},
	"add_scaled":  {0, 2, elementwise(func(a metal.EltArgs, d, s float32) float32 { return d + a.S*s })},
	"gather_rows": {256, 3, gatherRows},
	"scatter_add": {256, 4, scatterAdd},
	"probe":       {0, 2, probe},

	"mul_mv_q8_0": {metal.MVRows * metal.SIMDWidth, 4, mulMV(q8_0Elem)},
	"mul_mv_q4_0": {metal.MVRows * metal.SIMDWidth, 4, mulMV(q4_0Elem)},
	"mul_mv_q4_k": {metal.MVRows * metal.SIMDWidth, 4, mulMV(q4_KElem)},
	"mul_mv_q5_k": {metal.MVRows * metal.SIMDWidth, 4, mulMV(q5_KElem)},
	"mul_mv_q6_k": {metal.MVRows * metal.SIMDWidth, 4, mulMV(q6_KElem)},
	"embed_q8_0":  {256, 3, embed(q8_0Elem)},
	"embed_q4_0":  {256, 3, embed(q4_0Elem)},
	"embed_q4_k":  {256, 3, embed(q4_KElem)},
	"embed_q5_k":  {256, 3, embed(q5_KElem)},
	"embed_q6_k":  {256, 3, embed(q6_KElem)},
}

func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

// elem reads element i of a weight buffer as float32.
type elem func(v view, i int) float32

func f32Elem(v view, i int) float32  { return v.f32(i) }
func bf16Elem(v view, i int) float32 { return math.Float32frombits(uint32(v.u16(i)) << 16) }
func f16Elem(v view, i int) float32 {
	u := v.u16(i)
	sign := uint32(u>>15) << 31
	exp := uint32(u>>10) & 0x1f
	mant := uint32(u) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
	f := float32(mant) / (1 << 24) // zero or subnormal: mant·2^-24
	if sign != 0 {
		f = -f
	}
	return f
}

// mulMV: threadgroup (gx, gy), simdgroup sg computes row gx*MV_ROWS+sg for
// tokens gy*MV_TOKENS … +MV_TOKENS-1 (those below n).
func mulMV(w elem) func(metal.Dispatch, []view) error {
	return func(d metal.Dispatch, b []view) error {
		a, err := args[metal.MulMVArgs](d)
		if err != nil {
			return err
		}
		rows, cols, n := int(a.Rows), int(a.Cols), int(a.N)
		for gy := range d.Groups[1] {
			t0 := gy * metal.MVTokens
			if t0 >= n {
				// the MSL computes n - t0 in uint: it would wrap and write far out of range
				return fmt.Errorf("threadgroup row %d starts at token %d of %d", gy, t0, n)
			}
			nt := min(metal.MVTokens, n-t0)
			for gx := range d.Groups[0] {
				for sg := range d.Threads[0] / metal.SIMDWidth {
					r := gx*metal.MVRows + sg
					if r >= rows {
						continue
					}
					for t := range nt {
						var acc float32
						for c := range cols {
							acc += w(b[0], r*cols+c) * b[1].f32((t0+t)*cols+c)
						}
						if a.HasBias != 0 {
							acc += b[3].f32(r)
						}
						b[2].setF32((t0+t)*rows+r, acc)
					}
				}
			}
		}
		return nil
	}
}

func embed(w elem) func(metal.Dispatch, []view) error {
	return func(d metal.Dispatch, b []view) error {
		a, err := args[metal.EmbedArgs](d)
		if err != nil {
			return err
		}
		cols := int(a.Cols)
		for t := range d.Groups[1] {
			for gx := range d.Groups[0] {
				for tid := range d.Threads[0] {
					c := gx*d.Threads[0] + tid
					if c >= cols || t >= int(a.N) {
						continue
					}
					id := int(b[1].u32(t))
					b[2].setF32(t*cols+c, w(b[0], id*cols+c))
				}
			}
		}
		return nil
	}
}

func rmsNorm(d metal.Dispatch, b []view) error {
	a, err := args[metal.RMSNormArgs](d)
	if err != nil {
		return err
	}
	dim := int(a.Dim)
	for r := range d.Groups[0] {
		if r >= int(a.Rows) {
			continue
		}
		var ss float32
		for i := range dim {
			x := b[0].f32(r*dim + i)
			ss += x * x
		}
		scale := float32(1 / math.Sqrt(float64(ss/float32(dim)+a.Eps)))
		for i := range dim {
			b[2].setF32(r*dim+i, b[0].f32(r*dim+i)*scale*b[1].f32(i))
		}
	}
	return nil
}

// gids calls f for every thread position of a one-dimensional grid.
func gids(d metal.Dispatch, f func(gid int)) {
	for g := range d.Groups[0] {
		for t := range d.Threads[0] {
			f(g*d.Threads[0] + t)
		}
	}
}

func rope(d metal.Dispatch, b []view) error {
	a, err := args[metal.RoPEArgs](d)
	if err != nil {
		return err
	}
	half := int(a.RotDim / 2)
	heads, hd := int(a.Heads), int(a.HeadDim)
	total := int(a.N) * heads * half
	gids(d, func(gid int) {
		if gid >= total {
			return
		}
		i, h, t := gid%half, (gid/half)%heads, gid/(half*heads)
		v := (t*heads + h) * hd
		p := (int(a.Pos0)+t)*half + i
		c, s := b[1].f32(p), b[2].f32(p)
		x0, x1 := b[0].f32(v+i), b[0].f32(v+i+half)
		b[0].setF32(v+i, x0*c-x1*s)
		b[0].setF32(v+i+half, x1*c+x0*s)
	})
	return nil
}

// attention: threadgroup (h, t) computes head h of query t.
func attention(d metal.Dispatch, b []view) error {
	a, err := args[metal.AttentionArgs](d)
	if err != nil {
		return err
	}
	hd, heads := int(a.HeadDim), int(a.Heads)
	if hd > metal.AttMaxHeadDim {
		return fmt.Errorf("head_dim %d over the kernel's %d", hd, metal.AttMaxHeadDim)
	}
	kvDim := int(a.KVHeads) * hd
	group := heads / int(a.KVHeads)
	for t := range d.Groups[1] {
		for h := range d.Groups[0] {
			if h >= heads || t >= int(a.N) {
				continue
			}
			pos := int(a.Pos0) + t
			first := 0
			if a.Window > 0 {
				first = max(0, pos-int(a.Window)+1)
			}
			koff := (h / group) * hd
			q := (t*heads + h) * hd
			s := make([]float64, pos-first+1)
			m := math.Inf(-1)
			for j := range s {
				var dot float32
				for i := range hd {
					dot += b[0].f32(q+i) * b[1].f32((first+j)*kvDim+koff+i)
				}
				s[j] = float64(dot * a.Scale)
				m = max(m, s[j])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - m)
				sum += s[j]
			}
			var ent, small float64
			for j := range s {
				s[j] /= sum
				if s[j] < 1e-3 {
					small++
				}
				if s[j] > 0 {
					ent -= s[j] * math.Log(s[j])
				}
			}
			for i := range hd {
				var o float64
				for j, p := range s {
					o += p * float64(b[2].f32((first+j)*kvDim+koff+i))
				}
				b[3].setF32(q+i, float32(o))
			}
			if a.Stats != 0 {
				b[4].setF32((t*heads+h)*2, float32(ent))
				b[4].setF32((t*heads+h)*2+1, float32(small))
			}
		}
	}
	return nil
}

func elementwise(f func(a metal.EltArgs, x, y float32) float32) func(metal.Dispatch, []view) error {
	return func(d metal.Dispatch, b []view) error {
		a, err := args[metal.EltArgs](d)
		if err != nil {
			return err
		}
		gids(d, func(i int) {
			if i < int(a.N) {
				b[0].setF32(i, f(a, b[0].f32(i), b[1].f32(i)))
			}
		})
		return nil
	}
}

func scale(d metal.Dispatch, b []view) error {
	a, err := args[metal.EltArgs](d)
	if err != nil {
		return err
	}
	gids(d, func(i int) {
		if i < int(a.N) {
			b[0].setF32(i, b[0].f32(i)*a.S)
		}
	})
	return nil
}

func rowsKernel(d metal.Dispatch, f func(a metal.RowsArgs, j, c int)) error {
	a, err := args[metal.RowsArgs](d)
	if err != nil {
		return err
	}
	for j := range d.Groups[1] {
		for gx := range d.Groups[0] {
			for tid := range d.Threads[0] {
				c := gx*d.Threads[0] + tid
				if c < int(a.Width) && j < int(a.Count) {
					f(a, j, c)
				}
			}
		}
	}
	return nil
}

func gatherRows(d metal.Dispatch, b []view) error {
	return rowsKernel(d, func(a metal.RowsArgs, j, c int) {
		w := int(a.Width)
		b[2].setF32(j*w+c, b[0].f32(int(b[1].u32(j))*w+c))
	})
}

func scatterAdd(d metal.Dispatch, b []view) error {
	return rowsKernel(d, func(a metal.RowsArgs, j, c int) {
		w := int(a.Width)
		r := int(b[1].u32(j))
		b[3].setF32(r*w+c, b[3].f32(r*w+c)+b[2].f32(j)*b[0].f32(j*w+c))
	})
}

// probe: one threadgroup reduces all n elements (the MSL loops over them
// with the threadgroup's stride, so more groups would only repeat it).
func probe(d metal.Dispatch, b []view) error {
	a, err := args[metal.ProbeArgs](d)
	if err != nil {
		return err
	}
	if d.Groups != [3]int{1, 1, 1} {
		return fmt.Errorf("probe is one threadgroup, dispatched as %v", d.Groups)
	}
	var s, sq, mx, below, neg float32
	for i := range int(a.N) {
		v := b[0].f32(i)
		s += v
		sq += v * v
		mx = max(mx, float32(math.Abs(float64(v))))
		if float32(math.Abs(float64(v))) < a.Small {
			below++
		}
		if v < 0 {
			neg++
		}
	}
	for i, v := range []float32{s, sq, mx, below, neg} {
		b[1].setF32(i, v)
	}
	return nil
}
