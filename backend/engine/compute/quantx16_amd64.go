//go:build goexperiment.simd && amd64

package compute

// The x16 kernels (quantx16_vnni_amd64.s) multiply panels [p0, p1) of a
// repacked matrix by one token's quantized activations and write 16 results
// per panel.

//go:noescape
func x16Q4_0(w *byte, panels int, x *int8, dx *float32, negs *int32, units int, out *float32)

//go:noescape
func x16Q4K(w *byte, panels int, x *int8, dx *float32, sums *int16, units int, out *float32)

//go:noescape
func x16Q5K(w *byte, panels int, x *int8, dx *float32, sums *int16, units int, out *float32)

//go:noescape
func x16Q6K(w *byte, panels int, x *int8, dx *float32, negs *int32, units int, out *float32)

// hasX16Kernels reports the CPU features of the x16 kernels.
func hasX16Kernels() bool { return hasVNNI() }

// x16Kernel runs dt's kernel over panels [p0, p1) of x into out (16 floats
// a panel). negs: Q4_0's -8·Σq per 32 activations, Q6_K's -32·Σq per 16.
func x16Kernel(dt DType, x *x16Weights, p0, p1 int, a actRow, negs []int32, out []float32) {
	n := p1 - p0
	if n <= 0 {
		return
	}
	panelBytes := x.units * x.unitBytes
	_ = x.data[p1*panelBytes-1]
	_ = out[x16Rows*n-1]
	w := &x.data[p0*panelBytes]
	switch dt {
	case Q4_0:
		_ = a.qs[64*x.units-1]
		_ = a.d[2*x.units-1]
		_ = negs[2*x.units-1]
		x16Q4_0(w, n, &a.qs[0], &a.d[0], &negs[0], x.units, &out[0])
	case Q4_K, Q5_K:
		_ = a.qs[256*x.units-1]
		_ = a.d[x.units-1]
		_ = a.s32[8*x.units-1]
		if dt == Q4_K {
			x16Q4K(w, n, &a.qs[0], &a.d[0], &a.s32[0], x.units, &out[0])
		} else {
			x16Q5K(w, n, &a.qs[0], &a.d[0], &a.s32[0], x.units, &out[0])
		}
	case Q6_K:
		_ = a.qs[256*x.units-1]
		_ = a.d[x.units-1]
		_ = negs[16*x.units-1]
		x16Q6K(w, n, &a.qs[0], &a.d[0], &negs[0], x.units, &out[0])
	default:
		panic("compute: no x16 kernel for " + dt.String())
	}
}
