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
// the scalar part first, as for the archsimd kernels: it expands each
// block's scales into a float "scale stream" (one float per 32 values, per
// 16 for Q6_K, already multiplied by the activation scale) and computes the
// offset term (Q4_0's 8, Q6_K's 32, the K-quant mins). The assembly then
// runs only vector instructions and ends with VZEROUPPER.

//go:noescape
func vnniQ8_0(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ4_0(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ4_K(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ5_K(w *byte, x *int8, scale *float32, n int) uint32

//go:noescape
func vnniQ6_K(w *byte, x *int8, scale *float32, n int) uint32

// hasVNNI reports AVX-512 with VNNI (byte dot products).
func hasVNNI() bool { return archsimd.X86.AVX512() && archsimd.X86.AVX512VNNI() }

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
		var offset float32
		for b := range n {
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

// vnniK handles Q4_K and Q5_K: 8 scales and mins per 256-value block.
func vnniK(dt DType, w []byte, a actRow) float32 {
	bb := 144
	if dt == Q5_K {
		bb = 176
	}
	nb := len(a.qs) / 256
	const chunk = vnniChunk / 8
	var sum float32
	for b0 := 0; b0 < nb; b0 += chunk {
		n := min(chunk, nb-b0)
		ww, qs, ds, s32 := w[bb*b0:bb*(b0+n)], a.qs[256*b0:256*(b0+n)], a.d[b0:b0+n], a.s32[8*b0:8*(b0+n)]
		var scale [vnniChunk]float32
		var mins float32
		for b := range n {
			blk := unsafe.Pointer(&ww[bb*b])
			d, dmin := halfAt(blk, 0)*ds[b], halfAt(blk, 2)*ds[b]
			sc, m := kScales(unsafe.Add(blk, 4)), kMins(unsafe.Add(blk, 4))
			var summ int32
			for j := range 8 {
				scale[8*b+j] = d * float32(uint8(sc>>(8*j)))
				summ += int32(uint8(m>>(8*j))) * int32(s32[8*b+j])
			}
			mins += dmin * float32(summ)
		}
		var bits uint32
		if dt == Q4_K {
			bits = vnniQ4_K(&ww[0], &qs[0], &scale[0], n)
		} else {
			bits = vnniQ5_K(&ww[0], &qs[0], &scale[0], n)
		}
		sum += math.Float32frombits(bits) - mins
	}
	return sum
}

// vnniQ6 handles Q6_K: 16 scales per 256-value block.
func vnniQ6(w []byte, a actRow) float32 {
	nb := len(a.qs) / 256
	const chunk = vnniChunk / 16
	var sum float32
	for b0 := 0; b0 < nb; b0 += chunk {
		n := min(chunk, nb-b0)
		ww, qs, ds, s16 := w[210*b0:210*(b0+n)], a.qs[256*b0:256*(b0+n)], a.d[b0:b0+n], a.s16[16*b0:16*(b0+n)]
		var scale [vnniChunk]float32
		var offset float32
		for b := range n {
			blk := unsafe.Pointer(&ww[210*b])
			d := halfAt(blk, 208) * ds[b]
			sc := (*[16]int8)(unsafe.Add(blk, 192))
			var off int32
			for g := range 16 {
				scale[16*b+g] = d * float32(sc[g])
				off += int32(sc[g]) * int32(s16[16*b+g])
			}
			offset += d * float32(off)
		}
		sum += math.Float32frombits(vnniQ6_K(&ww[0], &qs[0], &scale[0], n)) - 32*offset
	}
	return sum
}
