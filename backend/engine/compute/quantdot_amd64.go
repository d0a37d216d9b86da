//go:build goexperiment.simd && amd64

package compute

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// The fused quantized dot products with AVX2 integer instructions through
// simd/archsimd, as ggml's x86 kernels do them: unpack a block's 4-6-bit
// values to bytes, multiply them with the int8 activations and add pairs
// (VPMADDUBSW: unsigned × signed → int16), then add pairs again while
// multiplying by the sub-block scale (VPMADDWD → int32), and apply the
// block's float scale once per block. Unsigned weights never saturate the
// int16 pairs (63·127·2 < 2^15); Q8_0's signed weights take |w| and move
// the sign onto the activation. Offsets (Q4_0's 8, Q6_K's 32, the K-quant
// mins) are applied through the activation sums (qact), not per value.
//
// Each kernel reads exactly the bytes of its row; the loop bounds follow
// from the slice lengths checked on entry.

// dotQuant is the fused quantized dot product: the VNNI assembly kernels
// (quantdot_vnni_amd64.s) on CPUs with AVX-512 VNNI, these on CPUs with
// AVX2, the portable ones elsewhere.
func dotQuant(dt DType, w []byte, a actRow) float32 {
	if hasVNNI() {
		return dotVNNI(dt, w, a)
	}
	if !hasAVX2() {
		return dotQuantGeneric(dt, w, a)
	}
	switch dt {
	case Q8_0:
		return dotQ8_0AVX2(w, a)
	case Q4_0:
		return dotQ4_0AVX2(w, a)
	case Q4_K:
		return dotQ45KAVX2(w, a, false)
	case Q5_K:
		return dotQ45KAVX2(w, a, true)
	case Q6_K:
		return dotQ6KAVX2(w, a)
	}
	return dotQuantGeneric(dt, w, a)
}

// dotRows computes len(out) consecutive rows of w (rowBytes each) against
// a in one kernel call where one exists (the VNNI kernels), and reports
// whether it did.
func dotRows(dt DType, w []byte, rowBytes int, a actRow, out []float32) bool {
	if !hasVNNI() {
		return false
	}
	switch dt {
	case Q8_0, Q4_0:
		return vnni32Rows(dt, w, a, len(out), rowBytes, out)
	case Q4_K, Q5_K, Q6_K:
		vnniKRows(dt, w, a, len(out), rowBytes, out)
		return true
	}
	return false
}

func u8x32(p unsafe.Pointer, off int) *[32]uint8 { return (*[32]uint8)(unsafe.Add(p, off)) }
func i8x32(p unsafe.Pointer, off int) *[32]int8  { return (*[32]int8)(unsafe.Add(p, off)) }

// halfAt reads the fp16 at p+off. The magnitude bits shifted into a float32
// and scaled by 2^112 are exact for normal and subnormal halves (block
// scales are never Inf or NaN); the sign is put back without a branch,
// since scale signs are random and a mispredicted branch per block costs
// more than the block's arithmetic.
func halfAt(p unsafe.Pointer, off int) float32 {
	h := uint32(*(*uint16)(unsafe.Add(p, off)))
	v := math.Float32frombits((h&0x7fff)<<13) * 0x1p112
	return math.Float32frombits(math.Float32bits(v) | (h&0x8000)<<16)
}

// Inside the vector loops there is no scalar float arithmetic: Go compiles
// it to legacy SSE instructions, and each of those while the upper halves of
// the vector registers are in use costs a state transition (measured: a
// 768-value Q8_0 row took 18 µs instead of under 1). So every kernel first
// computes its per-block float factors in a scalar pass, into a small
// array, and the vector loop only loads them. Rows longer than chunkBlocks
// blocks go through in chunks.
// (The array is zeroed on every call, so it is kept small: a K-quant row of
// 768 values has 3 blocks.)
const (
	chunkBlocks  = 64 // Q8_0, Q4_0: 2048 values
	chunkBlocksK = 16 // K-quants: 4096 values
)

// Shifts take their count from a vector (VPSRLVD/VPSLLVD on 32-bit lanes,
// the masks then drop what crossed a byte): ShiftAllRight(4) moves its count
// into a vector register with a legacy MOVQ, one more SSE instruction.
//
// Likewise the kernels store their scalar offset term through a pointer in
// the scalar pass and return their vector sum as raw bits: the compiler
// schedules scalar float work (a multiply, a register move of a float
// result) ahead of the closing VZEROUPPER when it can, and one such
// instruction costs more than the whole row; the caller converts.

// chunked runs kernel over the row in pieces of at most chunkBlocks blocks
// of blockBytes bytes (values per block: blockValues) and adds the results.
func chunked(w []byte, a actRow, nb, blockValues, blockBytes, maxBlocks int, kernel func(w []byte, a actRow, adjust *float32) (vecBits uint32)) float32 {
	var adjust float32
	if nb <= maxBlocks {
		vec := kernel(w, a, &adjust)
		return math.Float32frombits(vec) - adjust
	}
	perD, per16, per32 := len(a.qs)/len(a.d), 16, 32
	var sum float32
	for b := 0; b < nb; b += maxBlocks {
		n := min(maxBlocks, nb-b)
		v0, v1 := b*blockValues, (b+n)*blockValues
		sub := actRow{qs: a.qs[v0:v1], d: a.d[v0/perD : v1/perD], s16: a.s16[v0/per16 : v1/per16], s32: a.s32[v0/per32 : v1/per32]}
		vec := kernel(w[b*blockBytes:(b+n)*blockBytes], sub, &adjust)
		sum += math.Float32frombits(vec) - adjust
	}
	return sum
}

func dotQ8_0AVX2(w []byte, a actRow) float32 {
	return chunked(w, a, len(a.qs)/32, 32, 34, chunkBlocks, q8_0Chunk)
}

func q8_0Chunk(w []byte, a actRow, adjust *float32) uint32 {
	nb := len(a.d)
	*adjust = 0
	if nb == 0 {
		return 0
	}
	w, qs, ds := w[:34*nb], a.qs[:32*nb], a.d[:nb]
	pw, px := unsafe.Pointer(&w[0]), unsafe.Pointer(&qs[0])
	var scale [chunkBlocks]float32
	for b := range nb {
		scale[b] = halfAt(pw, 34*b) * ds[b]
	}
	ones := archsimd.BroadcastInt16x16(1)
	var acc0, acc1 archsimd.Float32x8
	b := 0
	for ; b+2 <= nb; b += 2 {
		w0 := archsimd.LoadInt8x32(i8x32(pw, 34*b+2))
		x0 := archsimd.LoadInt8x32(i8x32(px, 32*b))
		w1 := archsimd.LoadInt8x32(i8x32(pw, 34*b+36))
		x1 := archsimd.LoadInt8x32(i8x32(px, 32*b+32))
		p0 := w0.Abs().AsUint8x32().DotProductPairsSaturated(x0.CopySign(w0)).DotProductPairs(ones).ConvertToFloat32()
		p1 := w1.Abs().AsUint8x32().DotProductPairsSaturated(x1.CopySign(w1)).DotProductPairs(ones).ConvertToFloat32()
		acc0 = p0.MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc0)
		acc1 = p1.MulAdd(archsimd.BroadcastFloat32x8(scale[b+1]), acc1)
	}
	for ; b < nb; b++ {
		w0 := archsimd.LoadInt8x32(i8x32(pw, 34*b+2))
		x0 := archsimd.LoadInt8x32(i8x32(px, 32*b))
		p0 := w0.Abs().AsUint8x32().DotProductPairsSaturated(x0.CopySign(w0)).DotProductPairs(ones).ConvertToFloat32()
		acc0 = p0.MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc0)
	}
	t := total4of8(acc0.Add(acc1)).AsUint32x4().GetElem(0)
	archsimd.ClearAVXUpperBits()
	return t
}

// nibbles32 spreads the 16 bytes at p into 32 bytes: low nibbles, then high.
func nibbles32(p unsafe.Pointer, mask archsimd.Uint8x32, four archsimd.Uint32x4) archsimd.Uint8x32 {
	q := archsimd.LoadUint8x16((*[16]uint8)(p))
	var v archsimd.Uint8x32
	return v.SetLo(q).SetHi(q.AsUint32x4().ShiftRight(four).AsUint8x16()).And(mask)
}

func dotQ4_0AVX2(w []byte, a actRow) float32 {
	return chunked(w, a, len(a.qs)/32, 32, 18, chunkBlocks, q4_0Chunk)
}

func q4_0Chunk(w []byte, a actRow, adjust *float32) uint32 {
	nb := len(a.d)
	*adjust = 0
	if nb == 0 {
		return 0
	}
	w, qs, ds, s32 := w[:18*nb], a.qs[:32*nb], a.d[:nb], a.s32[:nb]
	pw, px := unsafe.Pointer(&w[0]), unsafe.Pointer(&qs[0])
	var scale [chunkBlocks]float32
	var offset float32 // Σ d_w·d_x·Σx: the -8 of every value
	for b := range nb {
		scale[b] = halfAt(pw, 18*b) * ds[b]
		offset += scale[b] * float32(s32[b])
	}
	*adjust = 8 * offset
	ones := archsimd.BroadcastInt16x16(1)
	m0F := archsimd.BroadcastUint8x32(0x0F)
	four := archsimd.BroadcastUint32x4(4)
	var acc0, acc1 archsimd.Float32x8
	b := 0
	for ; b+2 <= nb; b += 2 {
		p0 := nibbles32(unsafe.Add(pw, 18*b+2), m0F, four).DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(px, 32*b))).DotProductPairs(ones)
		p1 := nibbles32(unsafe.Add(pw, 18*b+20), m0F, four).DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(px, 32*b+32))).DotProductPairs(ones)
		acc0 = p0.ConvertToFloat32().MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc0)
		acc1 = p1.ConvertToFloat32().MulAdd(archsimd.BroadcastFloat32x8(scale[b+1]), acc1)
	}
	for ; b < nb; b++ {
		p0 := nibbles32(unsafe.Add(pw, 18*b+2), m0F, four).DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(px, 32*b))).DotProductPairs(ones)
		acc0 = p0.ConvertToFloat32().MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc0)
	}
	t := total4of8(acc0.Add(acc1)).AsUint32x4().GetElem(0)
	archsimd.ClearAVXUpperBits()
	return t
}

// kScales and kMins unpack the eight 6-bit scales and mins of a
// Q4_K/Q5_K block (get_scale_min_k4 for all j at once, with ggml's 32-bit
// mask trick): byte j of the result is scale (min) j. Plain integers, no
// arrays (zeroing an array compiles to a legacy SSE store), and small
// enough to inline (a call in the vector loop spills every register).
func kScales(p unsafe.Pointer) uint64 {
	u0 := *(*uint32)(p)
	u2 := *(*uint32)(unsafe.Add(p, 8))
	return uint64(u0&0x3f3f3f3f) | uint64(u2&0x0f0f0f0f|(u0>>6&0x03030303)<<4)<<32
}

func kMins(p unsafe.Pointer) uint64 {
	u1 := *(*uint32)(unsafe.Add(p, 4))
	u2 := *(*uint32)(unsafe.Add(p, 8))
	return uint64(u1&0x3f3f3f3f) | uint64(u2>>4&0x0f0f0f0f|(u1>>6&0x03030303)<<4)<<32
}

func dotQ45KAVX2(w []byte, a actRow, q5 bool) float32 {
	if q5 {
		return chunked(w, a, len(a.qs)/256, 256, 176, chunkBlocksK, func(w []byte, a actRow, adj *float32) uint32 { return q45KChunk(w, a, true, adj) })
	}
	return chunked(w, a, len(a.qs)/256, 256, 144, chunkBlocksK, func(w []byte, a actRow, adj *float32) uint32 { return q45KChunk(w, a, false, adj) })
}

func q45KChunk(w []byte, a actRow, q5 bool, adjust *float32) uint32 {
	nb := len(a.d)
	*adjust = 0
	if nb == 0 {
		return 0
	}
	bytes := 144
	if q5 {
		bytes = 176
	}
	w, qs, ds, s32 := w[:bytes*nb], a.qs[:256*nb], a.d[:nb], a.s32[:8*nb]
	pw, px := unsafe.Pointer(&w[0]), unsafe.Pointer(&qs[0])
	var scale [chunkBlocksK]float32
	var mins float32 // Σ dmin·d_x·Σ_j m_j·Σx_j
	for b := range nb {
		blk := unsafe.Add(pw, bytes*b)
		scale[b] = halfAt(blk, 0) * ds[b]
		m := kMins(unsafe.Add(blk, 4))
		var summ int32
		for j, s := range s32[8*b : 8*b+8] {
			summ += int32(uint8(m>>(8*j))) * int32(s)
		}
		mins += halfAt(blk, 2) * ds[b] * float32(summ)
	}
	*adjust = mins
	m0F := archsimd.BroadcastUint8x32(0x0F)
	m10 := archsimd.BroadcastUint8x32(0x10)
	two, three, four := archsimd.BroadcastUint32x8(2), archsimd.BroadcastUint32x8(3), archsimd.BroadcastUint32x8(4)
	var acc archsimd.Float32x8
	for b := range nb {
		blk := unsafe.Add(pw, bytes*b)
		sc := kScales(unsafe.Add(blk, 4))
		x := unsafe.Add(px, 256*b)
		var sumi archsimd.Int32x8
		if q5 {
			h := archsimd.LoadUint8x32(u8x32(blk, 16)).AsUint32x8() // bits 2c, 2c+1: chunk c
			for c := range 4 {
				q := archsimd.LoadUint8x32(u8x32(blk, 48+32*c))
				lo := q.And(m0F).Or(h.ShiftLeft(four).AsUint8x32().And(m10))
				hi := q.AsUint32x8().ShiftRight(four).AsUint8x32().And(m0F).Or(h.ShiftLeft(three).AsUint8x32().And(m10))
				h = h.ShiftRight(two)
				pl := lo.DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(x, 64*c)))
				ph := hi.DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(x, 64*c+32)))
				sumi = sumi.Add(pl.DotProductPairs(archsimd.BroadcastInt16x16(int16(uint8(sc >> (16 * c)))))).
					Add(ph.DotProductPairs(archsimd.BroadcastInt16x16(int16(uint8(sc >> (16*c + 8))))))
			}
		} else {
			for c := range 4 {
				q := archsimd.LoadUint8x32(u8x32(blk, 16+32*c))
				lo := q.And(m0F)
				hi := q.AsUint32x8().ShiftRight(four).AsUint8x32().And(m0F)
				pl := lo.DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(x, 64*c)))
				ph := hi.DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(x, 64*c+32)))
				sumi = sumi.Add(pl.DotProductPairs(archsimd.BroadcastInt16x16(int16(uint8(sc >> (16 * c)))))).
					Add(ph.DotProductPairs(archsimd.BroadcastInt16x16(int16(uint8(sc >> (16*c + 8))))))
			}
		}
		acc = sumi.ConvertToFloat32().MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc)
	}
	t := total4of8(acc).AsUint32x4().GetElem(0)
	archsimd.ClearAVXUpperBits()
	return t
}

func dotQ6KAVX2(w []byte, a actRow) float32 {
	return chunked(w, a, len(a.qs)/256, 256, 210, chunkBlocksK, q6KChunk)
}

func q6KChunk(w []byte, a actRow, adjust *float32) uint32 {
	nb := len(a.d)
	*adjust = 0
	if nb == 0 {
		return 0
	}
	w, qs, ds, s16 := w[:210*nb], a.qs[:256*nb], a.d[:nb], a.s16[:16*nb]
	pw, px := unsafe.Pointer(&w[0]), unsafe.Pointer(&qs[0])
	var scale [chunkBlocksK]float32
	var offset float32 // the -32 of every value: Σ d·d_x·Σ_g sc_g·Σx_g
	for b := range nb {
		blk := unsafe.Add(pw, 210*b)
		sc := (*[16]int8)(unsafe.Add(blk, 192))
		scale[b] = halfAt(blk, 208) * ds[b]
		var off int32
		for g, s := range s16[16*b : 16*b+16] {
			off += int32(sc[g]) * int32(s)
		}
		offset += scale[b] * float32(off)
	}
	*adjust = 32 * offset
	m0F := archsimd.BroadcastUint8x32(0x0F)
	m30 := archsimd.BroadcastUint8x32(0x30)
	two, four := archsimd.BroadcastUint32x8(2), archsimd.BroadcastUint32x8(4)
	var acc archsimd.Float32x8
	for b := range nb {
		blk := unsafe.Add(pw, 210*b)
		x := unsafe.Add(px, 256*b)
		sc := (*[16]int8)(unsafe.Add(blk, 192))
		var sumi archsimd.Int32x8
		for n := range 2 {
			A := archsimd.LoadUint8x32(u8x32(blk, 64*n))
			B := archsimd.LoadUint8x32(u8x32(blk, 64*n+32))
			H := archsimd.LoadUint8x32(u8x32(blk, 128+32*n)).AsUint32x8()
			x0 := unsafe.Add(x, 128*n)
			g := 8 * n // the first of the half's 8 groups of 16 values
			sumi = sumi.Add(q6Chunk(A.And(m0F).Or(H.ShiftLeft(four).AsUint8x32().And(m30)), x0, 0, sc[g], sc[g+1]))
			sumi = sumi.Add(q6Chunk(B.And(m0F).Or(H.ShiftLeft(two).AsUint8x32().And(m30)), x0, 32, sc[g+2], sc[g+3]))
			sumi = sumi.Add(q6Chunk(A.AsUint32x8().ShiftRight(four).AsUint8x32().And(m0F).Or(H.AsUint8x32().And(m30)), x0, 64, sc[g+4], sc[g+5]))
			sumi = sumi.Add(q6Chunk(B.AsUint32x8().ShiftRight(four).AsUint8x32().And(m0F).Or(H.ShiftRight(two).AsUint8x32().And(m30)), x0, 96, sc[g+6], sc[g+7]))
		}
		acc = sumi.ConvertToFloat32().MulAdd(archsimd.BroadcastFloat32x8(scale[b]), acc)
	}
	t := total4of8(acc).AsUint32x4().GetElem(0)
	archsimd.ClearAVXUpperBits()
	return t
}

// q6Chunk multiplies 32 unsigned 6-bit values with the activations at x+off
// and scales the two groups of 16 by s0 and s1.
func q6Chunk(q archsimd.Uint8x32, x unsafe.Pointer, off int, s0, s1 int8) archsimd.Int32x8 {
	p := q.DotProductPairsSaturated(archsimd.LoadInt8x32(i8x32(x, off)))
	var s archsimd.Int16x16
	s = s.SetLo(archsimd.BroadcastInt16x8(int16(s0))).SetHi(archsimd.BroadcastInt16x8(int16(s1)))
	return p.DotProductPairs(s)
}
