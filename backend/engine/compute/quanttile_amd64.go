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
