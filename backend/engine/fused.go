package engine

import "energyprofiler/backend/engine/compute"

// fusedBackend is a backend that runs a decode token's products that share
// an input as one parallel operation (compute/fused.go): a layer's q, k
// and v (with RoPE and attention where AttentionBlock takes them,
// compute/attnblock.go), and its gate and up with the activation. On the
// CPU a layer then makes four hand-offs between the cores instead of nine,
// and each costs microseconds when the cores sit on different dies.
type fusedBackend interface {
	MatVecs(x []float32, ps []compute.Product)
	GatedMatVec(x []float32, gate, up compute.Product, act compute.Activation)
	AttentionBlock(x []float32, q, k, v compute.Product, a *compute.Attention, rot compute.Rotary) bool
}

// fuses reports whether a pass over n positions takes the fused products:
// one token, a backend that has them, and no component timing, since the
// parts of a fused call run at once on different cores and have no time
// span of their own.
func (e *Engine) fuses(n int) bool {
	return n == 1 && e.fused != nil && e.trace.depth == DepthOff
}

// attentionBlock runs layer l's q, k and v products of xb (e.qkv), RoPE
// and attention a for one token as one parallel operation, and reports
// whether the backend took them. Per-head q and k norms (Qwen3, Gemma 3)
// come between the products and RoPE, so their models take the steps one
// by one.
func (e *Engine) attentionBlock(l *layer, xb []float32, a *compute.Attention) bool {
	if l.qNorm != nil {
		return false
	}
	return e.fused.AttentionBlock(xb, e.qkv[0], e.qkv[1], e.qkv[2], a, compute.Rotary{Cos: l.ropeCos, Sin: l.ropeSin, Dim: e.rotDim})
}

// activation is the MLP's gate nonlinearity in the backend's terms.
func (e *Engine) activation() compute.Activation {
	if e.geglu {
		return compute.GELUTanh
	}
	return compute.SiLU
}
