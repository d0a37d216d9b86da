//go:build !(goexperiment.simd && amd64)

package compute

// hasX16Kernels: the x16 kernels exist for amd64 with VNNI only.
func hasX16Kernels() bool { return false }

func x16Kernel(DType, *x16Weights, *x16Weights, int, int, int, actRow, []int32, []float32, []float32) {
	panic("compute: no x16 kernel on this platform")
}
