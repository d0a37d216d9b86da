//go:build goexperiment.simd && amd64

package compute

//go:noescape
func vnniTileQ8_0(w *byte, rowBytes int, a *byte, n int, out *float32)

//go:noescape
func vnniTileQ4_0(w *byte, rowBytes int, a *byte, n int, out *float32)

// usesTiles reports whether products with w go through the token-tile
// kernels: Q8_0 and Q4_0 rows of whole block pairs, on CPUs with AVX-512
// VNNI.
func usesTiles(w Matrix) bool {
	return (w.DType == Q8_0 || w.DType == Q4_0) && w.Cols%64 == 0 && w.Cols > 0 && hasVNNI()
}

// hasPanelKernels reports the CPU features of the panel kernels.
func hasPanelKernels() bool { return hasVNNI() }

// tileKernel multiplies the 4 rows in w (rowBytes apart) by the 4 tokens
// packed in a (pairs·tileBytes bytes): res[4j+r] = token j · row r.
func tileKernel(dt DType, w []byte, rowBytes int, a []byte, pairs int, res *[16]float32) {
	_ = w[3*rowBytes+dt.RowBytes(64*pairs)-1]
	_ = a[pairs*tileBytes-1]
	if dt == Q8_0 {
		vnniTileQ8_0(&w[0], rowBytes, &a[0], pairs, &res[0])
	} else {
		vnniTileQ4_0(&w[0], rowBytes, &a[0], pairs, &res[0])
	}
}

//go:noescape
func vnniPanel(panel *byte, a *byte, stride int, nb int, out *float32)

// panelKernel multiplies a packed panel of 16 rows (nb blocks) by the 4
// tokens whose packed activations start at a, stride bytes apart.
func panelKernel(panel []byte, a []byte, stride, nb int, res *[64]float32) {
	_ = panel[nb*panelBlockBytes-1]
	_ = a[3*stride+nb*actBlockBytes-1]
	vnniPanel(&panel[0], &a[0], stride, nb, &res[0])
}

//go:noescape
func vnniPanelK(panel *byte, a *byte, stride int, nu int, out *float32)

// panelKernelK is panelKernel for the K-quant panels (nu units of 32).
func panelKernelK(panel []byte, a []byte, stride, nu int, res *[64]float32) {
	_ = panel[nu*panelUnitBytesK-1]
	_ = a[3*stride+nu*actUnitBytesK-1]
	vnniPanelK(&panel[0], &a[0], stride, nu, &res[0])
}
