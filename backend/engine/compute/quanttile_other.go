//go:build !(goexperiment.simd && amd64)

package compute

// usesTiles: the token-tile kernels exist for amd64 with VNNI only.
func usesTiles(Matrix) bool { return false }

func tileKernel(DType, []byte, int, []byte, int, *[16]float32) {
	panic("compute: no token-tile kernel on this platform")
}

func panelKernel([]byte, []byte, int, int, *[64]float32) {
	panic("compute: no panel kernel on this platform")
}

func panelKernelK([]byte, []byte, int, int, *[64]float32) {
	panic("compute: no panel kernel on this platform")
}

// hasPanelKernels: no panel kernels on this platform.
func hasPanelKernels() bool { return false }
