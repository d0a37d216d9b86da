//go:build !amd64

package compute

import "unsafe"

// Off amd64 the prefill GEMM is not used (arm64 has its own kernels); these
// stubs keep the platform-independent driver in gemm.go compiling.

func gemmAvailable() bool     { return false }
func gemmAVX2Available() bool { return false }

func packHalfBlocksAVX2(dst []float32, dt DType, src unsafe.Pointer, ld, kblocks int) {
	panic("compute: no GEMM packer on this platform")
}

func gemmTileAVX2(m int, x *float32, ldx int, panel *float32, k int, c *float32, ldc int, bias *float32) {
	panic("compute: no GEMM kernel on this platform")
}

func packHalfBlocks(dst []float32, dt DType, src unsafe.Pointer, ld, kblocks int) {
	panic("compute: no GEMM packer on this platform")
}

func gemmTile(m int, x *float32, ldx int, panel *float32, ldp int, k int, c *float32, ldc int, bias *float32, mask uint32) {
	panic("compute: no GEMM kernel on this platform")
}

func peakLoop(n int, kind PeakKind) float64 { return 0 }

func amxAvailable() bool { return false }

func amxTile1(cfg *byte, a unsafe.Pointer, b unsafe.Pointer, bplane int, kblocks int, c *float32, ldc int) {
	panic("compute: no AMX kernel on this platform")
}

func amxTile2(cfg *byte, a unsafe.Pointer, b unsafe.Pointer, bplane int, kblocks int, c *float32, ldc int) {
	panic("compute: no AMX kernel on this platform")
}

func amxTile3(cfg *byte, a unsafe.Pointer, b unsafe.Pointer, bplane int, kblocks int, c *float32, ldc int) {
	panic("compute: no AMX kernel on this platform")
}

func splitBF16x3(dst unsafe.Pointer, x *float32, kblocks int, plane int, block int) {
	panic("compute: no AMX kernel on this platform")
}
