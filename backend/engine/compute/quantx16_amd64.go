//go:build goexperiment.simd && amd64

package compute

// The x16 kernels (quantx16_vnni_amd64.s) multiply two runs of panels of
// a repacked matrix, read side by side, by one token's quantized
// activations and write 16 results per panel.

//go:noescape
func x16Q8_0(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)

//go:noescape
func x16Q4_0(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)

//go:noescape
func x16Q4K(a, b *byte, pairs int, x *int8, dx *float32, sums *int16, units int, outA, outB *float32)

//go:noescape
func x16Q5K(a, b *byte, pairs int, x *int8, dx *float32, sums *int16, units int, outA, outB *float32)

//go:noescape
func x16Q6K(a, b *byte, pairs int, x *int8, dx *float32, negs *int32, units int, outA, outB *float32)

// hasX16Kernels reports the CPU features of the x16 kernels.
func hasX16Kernels() bool { return hasVNNI() }

// x16Kernel runs dt's kernel over panels [pa, pa+pairs) of xa and
// [pb, pb+pairs) of xb into outA and outB (16 floats a panel). xa and xb
// are one matrix or two of the same layout (x16Layout). negs: Q8_0's
// -128·Σq and Q4_0's -8·Σq per 32 activations, Q6_K's -32·Σq per 16.
func x16Kernel(dt DType, xa, xb *x16Weights, pa, pb, pairs int, a actRow, negs []int32, outA, outB []float32) {
	if pairs <= 0 {
		return
	}
	if !sameX16Layout(xa, xb) {
		panic("compute: x16 kernel streams of different layouts")
	}
	x := xa
	panelBytes := x.units * x.unitBytes
	_ = xa.data[(pa+pairs)*panelBytes-1]
	_ = xb.data[(pb+pairs)*panelBytes-1]
	_ = outA[x16Rows*pairs-1]
	_ = outB[x16Rows*pairs-1]
	wa, wb := &xa.data[pa*panelBytes], &xb.data[pb*panelBytes]
	switch dt {
	case Q8_0, Q4_0:
		_ = a.qs[64*x.units-1]
		_ = a.d[2*x.units-1]
		_ = negs[2*x.units-1]
		if dt == Q8_0 {
			x16Q8_0(wa, wb, pairs, &a.qs[0], &a.d[0], &negs[0], x.units, &outA[0], &outB[0])
		} else {
			x16Q4_0(wa, wb, pairs, &a.qs[0], &a.d[0], &negs[0], x.units, &outA[0], &outB[0])
		}
	case Q4_K, Q5_K:
		_ = a.qs[256*x.units-1]
		_ = a.d[x.units-1]
		_ = a.s32[8*x.units-1]
		if dt == Q4_K {
			x16Q4K(wa, wb, pairs, &a.qs[0], &a.d[0], &a.s32[0], x.units, &outA[0], &outB[0])
		} else {
			x16Q5K(wa, wb, pairs, &a.qs[0], &a.d[0], &a.s32[0], x.units, &outA[0], &outB[0])
		}
	case Q6_K:
		_ = a.qs[256*x.units-1]
		_ = a.d[x.units-1]
		_ = negs[16*x.units-1]
		x16Q6K(wa, wb, pairs, &a.qs[0], &a.d[0], &negs[0], x.units, &outA[0], &outB[0])
	default:
		panic("compute: no x16 kernel for " + dt.String())
	}
}
