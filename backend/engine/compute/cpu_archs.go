package compute

import "math"

// The operations the Gemma 3 and mixture-of-experts forward passes add to
// the Llama block's.

// GeGLU implements Backend.
func (c *CPU) GeGLU(gate, up []float32) {
	t := &c.geglu
	t.gate, t.up = gate, up[:len(gate)]
	c.pool.Parallel(len(gate), max(256, len(gate)/(4*c.pool.Workers())), t)
	t.gate, t.up = nil, nil
}

type gegluTask struct{ gate, up []float32 }

func (t *gegluTask) Run(_, lo, hi int) { geglu(t.gate[lo:hi], t.up[lo:hi]) }

// geglu is tanh-approximated GELU(g)·u, computed in float64 like a float32
// torch kernel's internal precision (its result is then rounded to float32).
func geglu(g, u []float32) {
	const c = 0.7978845608028654 // √(2/π)
	for i, v := range g {
		x := float64(v)
		g[i] = float32(0.5*x*(1+math.Tanh(c*(x+0.044715*x*x*x)))) * u[i]
	}
}

// Scale implements Backend.
func (c *CPU) Scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// AddScaled implements Backend.
func (c *CPU) AddScaled(dst, src []float32, s float32) { axpy(dst, s, src[:len(dst)]) }
