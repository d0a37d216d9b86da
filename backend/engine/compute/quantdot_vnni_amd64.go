//go:build goexperiment.simd && amd64

package compute

import (
	"math"
	"unsafe"

	"simd/archsimd"
)

// AVX-512 VNNI kernels (quantdot_vnni_amd64.s): VPDPBUSD multiplies 64
// unsigned weight bytes with 64 int8 activations and sums them four at a
// time in one instruction, which archsimd does not offer. The Go side does
// the scalar part first for Q8_0 and Q4_0 (blockScales turns the fp16
// block scales into a float "scale stream", one float per 32 values, times
// the activation scale, and sums Q4_0's offset term); the K-quant kernels
// unpack their scales and mins themselves. The assembly runs only vector
// and integer instructions and ends with VZEROUPPER.

//go:noescape
func vnniQ8_0(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ8_0rows(w *byte, x *int8, dx *float32, n, rows, rowBytes int, out *float32)

//go:noescape
func vnniQ4_0rows(w *byte, x *int8, dx *float32, n, rows, rowBytes int, out *float32)

//go:noescape
func vnniQ4_0rowsP(w *byte, x *int8, dx *float32, neg *int32, n, rows, rowBytes int, out *float32)

//go:noescape
func blockScales(w *byte, stride int, dx *float32, out *float32, n int, sums *int16) uint32

//go:noescape
func vnniQ4_0(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ4_K(w *byte, x *int8, dx *float32, sums *int16, n, rows, rowBytes int, out *float32)

//go:noescape
func vnniQ5_K(w *byte, x *int8, dx *float32, sums *int16, n, rows, rowBytes int, out *float32)

//go:noescape
func vnniQ6_K(w *byte, x *int8, dx *float32, sums *int16, n, rows, rowBytes int, out *float32)

// hasVNNI reports AVX-512 with VNNI (byte dot products).
func hasVNNI() bool { return archsimd.X86.AVX512() && archsimd.X86.AVX512VNNI() }

// hasQ4_0Perm reports whether the Q4_0 kernels read the permuted
// activations (qact.permuteQ4_0).
func hasQ4_0Perm() bool { return hasVNNI() }

// vnniChunk bounds the blocks one scale stream covers (it lives on the
// stack and is zeroed on every call).
const vnniChunk = 64

// dotVNNI dispatches one row to the VNNI kernel of its type.
func dotVNNI(dt DType, w []byte, a actRow) float32 {
	switch dt {
	case Q8_0, Q4_0:
		return vnni32(dt, w, a)
	case Q4_K, Q5_K:
		return vnniK(dt, w, a)
	case Q6_K:
		return vnniQ6(w, a)
	}
	return dotQuantGeneric(dt, w, a)
}

// vnni32 handles Q8_0 and Q4_0: pairs of 32-value blocks in assembly, an
// odd last block in Go.
func vnni32(dt DType, w []byte, a actRow) float32 {
	bb := 34
	if dt == Q4_0 {
		bb = 18
	}
	nb := len(a.qs) / 32
	var sum float32
	for b0 := 0; b0 < nb; b0 += vnniChunk {
		n := min(vnniChunk, nb-b0)
		ww, qs, ds, s32 := w[bb*b0:bb*(b0+n)], a.qs[32*b0:32*(b0+n)], a.d[b0:b0+n], a.s32[b0:b0+n]
		var scale [vnniChunk]float32
		var offset float32 // Σ scale·Σx: Q4_0's -8
		n16 := n &^ 15
		if n16 > 0 {
			offset = math.Float32frombits(blockScales(&ww[0], bb, &ds[0], &scale[0], n16, &s32[0]))
		}
		for b := n16; b < n; b++ {
			scale[b] = halfAt(unsafe.Pointer(&ww[bb*b]), 0) * ds[b]
			offset += scale[b] * float32(s32[b])
		}
		pairs := n / 2
		var bits uint32
		if pairs > 0 {
			if dt == Q8_0 {
				bits = vnniQ8_0(&ww[0], &qs[0], &scale[0], pairs)
			} else {
				bits = vnniQ4_0(&ww[0], &qs[0], &scale[0], pairs)
			}
		}
		sum += math.Float32frombits(bits)
		if dt == Q4_0 {
			sum -= 8 * offset
		}
		if n%2 == 1 { // the last block on its own
			b := n - 1
			one := actRow{qs: qs[32*b:], d: ds[b:], s16: a.s16[2*(b0+b) : 2*(b0+b)+2], s32: s32[b:]}
			sum += dotQuantGeneric(dt, ww[bb*b:], one)
			if dt == Q4_0 {
				sum += 8 * scale[b] * float32(s32[b]) // counted in offset and by the generic block
			}
		}
	}
	return sum
}

// vnniK handles Q4_K and Q5_K; the assembly derives the block scales.
func vnniK(dt DType, w []byte, a actRow) float32 {
	var out [1]float32
	vnniKRows(dt, w, a, 1, len(w), out[:])
	return out[0]
}

// vnniQ6 handles Q6_K.
func vnniQ6(w []byte, a actRow) float32 { return vnniK(Q6_K, w, a) }

// vnni32Rows is vnniKRows for Q8_0 and Q4_0 rows of an even number of
// blocks (the kernels take them in pairs); it reports false for odd ones.
func vnni32Rows(dt DType, w []byte, a actRow, rows, rowBytes int, out []float32) bool {
	nb := len(a.qs) / 32
	if nb == 0 || nb%2 != 0 || rows == 0 {
		return false
	}
	_ = w[(rows-1)*rowBytes+dt.RowBytes(32*nb)-1] // every row is inside w
	_ = out[rows-1]
	switch {
	case dt == Q8_0:
		vnniQ8_0rows(&w[0], &a.qs[0], &a.d[0], nb/2, rows, rowBytes, &out[0])
	case len(a.p4) == len(a.qs) && len(a.neg) == len(a.qs)/4:
		vnniQ4_0rowsP(&w[0], &a.p4[0], &a.d[0], &a.neg[0], nb/2, rows, rowBytes, &out[0])
	default:
		vnniQ4_0rows(&w[0], &a.qs[0], &a.d[0], nb/2, rows, rowBytes, &out[0])
	}
	return true
}

// vnniKRows computes len(out) consecutive rows (rowBytes apart in w) of a
// K-quant matrix against one activation row in one assembly call, which
// pays for its constants and its call once, not per row.
func vnniKRows(dt DType, w []byte, a actRow, rows, rowBytes int, out []float32) {
	nb := len(a.qs) / 256
	if nb == 0 || rows == 0 {
		clear(out[:rows])
		return
	}
	_ = w[(rows-1)*rowBytes+dt.RowBytes(256*nb)-1] // every row is inside w
	_ = out[rows-1]
	switch dt {
	case Q4_K:
		vnniQ4_K(&w[0], &a.qs[0], &a.d[0], &a.s32[0], nb, rows, rowBytes, &out[0])
	case Q5_K:
		vnniQ5_K(&w[0], &a.qs[0], &a.d[0], &a.s32[0], nb, rows, rowBytes, &out[0])
	case Q6_K:
		vnniQ6_K(&w[0], &a.qs[0], &a.d[0], &a.s16[0], nb, rows, rowBytes, &out[0])
	}
}
