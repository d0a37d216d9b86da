//go:build !(goexperiment.simd && amd64)

package compute

// quantizeBlocksFast: no SIMD activation quantizer on this platform.
func quantizeBlocksFast(*qact, []float32, int, int) bool { return false }
