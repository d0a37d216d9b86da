//go:build !arm64

package compute

// Only arm64 has a vector half-precision widening (FCVTL); elsewhere the
// F16 path widens element by element.
func widenF16(dst []float32, src []uint16) { widenF16Generic(dst, src) }
