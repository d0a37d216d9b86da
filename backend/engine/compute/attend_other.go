//go:build !(goexperiment.simd && amd64)

package compute

// attendScores: no fused scores kernel on this platform.
func attendScores(s, q, k []float32, stride int, scale float32) bool { return false }

// attendWeighted: no fused weighted-sum kernel on this platform.
func attendWeighted(out, s, v []float32, stride int) bool { return false }
