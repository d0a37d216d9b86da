package engine

import "energyprofiler/backend/engine/compute"

// fusedBackend is a backend that runs a decode token's products that share
// an input as one parallel operation (compute/fused.go): a layer's q, k
// and v, and its gate and up with the activation. On the CPU that saves
// three hand-offs between the cores per layer, which cost microseconds
// each when the cores sit on different dies.
type fusedBackend interface {
	MatVecs(x []float32, ps []compute.Product)
	GatedMatVec(x []float32, gate, up compute.Product, act compute.Activation)
}

// fuses reports whether a pass over n positions takes the fused products:
// one token, a backend that has them, and no component timing, since the
// parts of a fused call run at once on different cores and have no time
// span of their own.
func (e *Engine) fuses(n int) bool {
	return n == 1 && e.fused != nil && e.trace.depth == DepthOff
}

// activation is the MLP's gate nonlinearity in the backend's terms.
func (e *Engine) activation() compute.Activation {
	if e.geglu {
		return compute.GELUTanh
	}
	return compute.SiLU
}
