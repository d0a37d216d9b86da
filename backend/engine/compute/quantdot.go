package compute

import (
	"math"
)

// Fused quantized dot products, the ggml way: the activation row is
// quantized once to int8 (qact), and each weight row is read block by block
// in its stored form, multiplying integers and applying the scales per
// block. No weight is ever decoded to float32 in memory.
//
// Activations use one scale per weight block: 32 values for Q8_0/Q4_0, 256
// for the K-quants (ggml's Q8_0 and Q8_K). Sums of the int8 values per 16
// and per 32 carry the weights' offsets (Q4_0's -8, Q6_K's -32, the K-quant
// mins) without touching every value twice.

// qact is n activation rows quantized to int8.
type qact struct {
	cols, block int
	qs          []int8    // n × cols
	d           []float32 // n × cols/block: value = d·q
	s16         []int16   // n × cols/16: Σ q over each 16 values
	s32         []int16   // n × cols/32: Σ q over each 32 values

	// For the Q4_0 VNNI kernel (permuteQ4_0): the values of each pair of
	// 32-value blocks reordered to match their nibbles as one 256-bit load
	// spreads them, and each block's -Σq per int32 lane (see actRow).
	p4  []int8  // n × cols
	neg []int32 // n × cols/4
	// their storage, kept between calls
	p4keep  []int8
	negKeep []int32
}

// actRow is one quantized activation row.
type actRow struct {
	qs  []int8
	d   []float32
	s16 []int16
	s32 []int16
	// p4 and neg: nil unless permuteQ4_0 ran. Per pair of blocks b0, b1:
	// p4 holds b0's values 0-15, b1's 0-15, b0's 16-31, b1's 16-31, and neg
	// the 16 int32 lanes a byte dot product of those 64 values fills (4
	// values each), -Σq of the lane's block (so a block's 8 lanes sum to
	// -8·Σq, Q4_0's offset of 8 per value).
	p4  []int8
	neg []int32
}

func (a *qact) row(t int) actRow {
	c := a.cols
	r := actRow{qs: a.qs[t*c : (t+1)*c], d: a.d[t*c/a.block : (t+1)*c/a.block],
		s16: a.s16[t*c/16 : (t+1)*c/16], s32: a.s32[t*c/32 : (t+1)*c/32]}
	if a.p4 != nil {
		r.p4, r.neg = a.p4[t*c:(t+1)*c], a.neg[t*c/4:(t+1)*c/4]
	}
	return r
}

// permuteQ4_0 fills p4 and neg (see actRow) for rows of an even number of
// 32-value blocks; for others it leaves them nil.
func (a *qact) permuteQ4_0() {
	a.p4, a.neg = nil, nil
	if a.block != 32 || a.cols%64 != 0 || len(a.qs) == 0 {
		return
	}
	a.p4 = a.p4Buf(len(a.qs))
	a.neg = a.negBuf(len(a.qs) / 4)
	for p := range len(a.qs) / 64 {
		src, dst, neg := a.qs[64*p:64*p+64], a.p4[64*p:64*p+64], a.neg[16*p:16*p+16]
		copy(dst[0:16], src[0:16])
		copy(dst[16:32], src[32:48])
		copy(dst[32:48], src[16:32])
		copy(dst[48:64], src[48:64])
		n0, n1 := -int32(a.s32[2*p]), -int32(a.s32[2*p+1])
		for l := range 4 {
			neg[l], neg[4+l], neg[8+l], neg[12+l] = n0, n1, n0, n1
		}
	}
}

// actBlock is the activation block size for weights of type dt.
func actBlock(dt DType) int {
	if dt == Q8_0 || dt == Q4_0 {
		return 32
	}
	return 256
}

// quantize fills a with n rows of x (cols each), one scale per block
// values: d = max|x|/127, q = round(x/d).
func (a *qact) quantize(x []float32, n, cols, block int) {
	a.size(n, cols, block)
	a.quantizeRows(x, 0, n)
}

// size makes room for n rows of cols values in blocks of block.
func (a *qact) size(n, cols, block int) {
	a.cols, a.block = cols, block
	if cap(a.qs) < n*cols {
		a.qs = make([]int8, n*cols)
	}
	a.qs = a.qs[:n*cols]
	a.d = growF32(a.d, n*cols/block)
	a.s16 = growI16(a.s16, n*cols/16)
	a.s32 = growI16(a.s32, n*cols/32)
}

// quantizeRows quantizes rows [lo, hi) of x into a (sized by size); rows
// are independent, so workers may fill disjoint ranges at once.
func (a *qact) quantizeRows(x []float32, lo, hi int) {
	cols, block := a.cols, a.block
	b0, b1 := lo*cols/block, hi*cols/block
	if !quantizeBlocksFast(a, x, b0, b1) {
		quantizeBlocksGo(a, x, b0, b1)
	}
	for g := lo * cols / 32; g < hi*cols/32; g++ {
		a.s32[g] = a.s16[2*g] + a.s16[2*g+1]
	}
}

// quantizeBlocksGo quantizes blocks [b0, b1) of x into a (qs, d, s16): the
// definition quantizeBlocksFast's kernels reproduce exactly. One pass per
// block: max |x| on the bits (the sign bit cleared, finite floats order as
// their bits do), then the rounded quotients and the sums per 16 values.
func quantizeBlocksGo(a *qact, x []float32, b0, b1 int) {
	block := a.block
	for b := b0; b < b1; b++ {
		xs, qs := x[b*block:(b+1)*block], a.qs[b*block:(b+1)*block]
		var amaxBits uint32
		for _, v := range xs {
			amaxBits = max(amaxBits, math.Float32bits(v)&0x7fffffff)
		}
		d := math.Float32frombits(amaxBits) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		a.d[b] = d
		s16 := a.s16[b*block/16 : (b+1)*block/16]
		for g := range s16 {
			var sum int16
			q := qs[16*g : 16*g+16]
			for i, v := range xs[16*g : 16*g+16] {
				q[i] = int8(nearestInt(v * id))
				sum += int16(q[i])
			}
			s16[g] = sum
		}
	}
}

func (a *qact) p4Buf(k int) []int8 {
	if cap(a.p4keep) < k {
		a.p4keep = make([]int8, k)
	}
	return a.p4keep[:k]
}

func (a *qact) negBuf(k int) []int32 {
	if cap(a.negKeep) < k {
		a.negKeep = make([]int32, k)
	}
	return a.negKeep[:k]
}

func growF32(s []float32, k int) []float32 {
	if cap(s) < k {
		return make([]float32, k)
	}
	return s[:k]
}

func growI16(s []int16, k int) []int16 {
	if cap(s) < k {
		return make([]int16, k)
	}
	return s[:k]
}

// Portable dot products of one weight row (its bytes) with one quantized
// activation row. They define the arithmetic the SIMD kernels reproduce.

func dotQ8_0Generic(w []byte, a actRow) float32 {
	var sum float32
	for b := range len(a.d) {
		blk, x := w[34*b:34*b+34], a.qs[32*b:32*b+32]
		var s int32
		for j, q := range blk[2:34] {
			s += int32(int8(q)) * int32(x[j])
		}
		sum += f16(blk) * a.d[b] * float32(s)
	}
	return sum
}

func dotQ4_0Generic(w []byte, a actRow) float32 {
	var sum float32
	for b := range len(a.d) {
		blk, x := w[18*b:18*b+18], a.qs[32*b:32*b+32]
		var s int32
		for j, q := range blk[2:18] {
			s += int32(q&0xF)*int32(x[j]) + int32(q>>4)*int32(x[j+16])
		}
		s -= 8 * int32(a.s32[b])
		sum += f16(blk) * a.d[b] * float32(s)
	}
	return sum
}

// dotQ45KGeneric is Q4_K (q5 false) and Q5_K.
func dotQ45KGeneric(w []byte, a actRow, q5 bool) float32 {
	bytes := 144
	if q5 {
		bytes = 176
	}
	var sum float32
	for b := range len(a.d) {
		blk, x := w[bytes*b:bytes*(b+1)], a.qs[256*b:256*b+256]
		scales, qh, qs := blk[4:16], blk[16:48], blk[16:144]
		if q5 {
			qs = blk[48:176]
		}
		var sumi, summ int32
		for c := range 4 {
			sc0, m0 := kScaleMin(2*c, scales)
			sc1, m1 := kScaleMin(2*c+1, scales)
			q := qs[32*c : 32*c+32]
			var s0, s1 int32
			for l := range 32 {
				lo, hi := int32(q[l]&0xF), int32(q[l]>>4)
				if q5 {
					lo += int32(qh[l]>>(2*c)&1) << 4
					hi += int32(qh[l]>>(2*c+1)&1) << 4
				}
				s0 += lo * int32(x[64*c+l])
				s1 += hi * int32(x[64*c+32+l])
			}
			sumi += int32(sc0)*s0 + int32(sc1)*s1
			summ += int32(m0)*int32(a.s32[8*b+2*c]) + int32(m1)*int32(a.s32[8*b+2*c+1])
		}
		d, dmin := f16(blk), f16(blk[2:])
		sum += a.d[b] * (d*float32(sumi) - dmin*float32(summ))
	}
	return sum
}

func dotQ6KGeneric(w []byte, a actRow) float32 {
	var sum float32
	for b := range len(a.d) {
		blk, x := w[210*b:210*(b+1)], a.qs[256*b:256*b+256]
		sc := blk[192:208]
		var sumi int32
		for n := range 2 {
			ql, qh := blk[64*n:64*n+64], blk[128+32*n:128+32*n+32]
			xs := x[128*n : 128*n+128]
			var g [8]int32 // per 16 values
			for l := range 32 {
				q1 := int32(ql[l]&0xF | (qh[l]>>0&3)<<4)
				q2 := int32(ql[l+32]&0xF | (qh[l]>>2&3)<<4)
				q3 := int32(ql[l]>>4 | (qh[l]>>4&3)<<4)
				q4 := int32(ql[l+32]>>4 | (qh[l]>>6&3)<<4)
				is := l / 16
				g[is] += q1 * int32(xs[l])
				g[is+2] += q2 * int32(xs[l+32])
				g[is+4] += q3 * int32(xs[l+64])
				g[is+6] += q4 * int32(xs[l+96])
			}
			for k, s := range g {
				grp := 8*n + k
				sumi += int32(int8(sc[grp])) * (s - 32*int32(a.s16[16*b+grp]))
			}
		}
		sum += f16(blk[208:]) * a.d[b] * float32(sumi)
	}
	return sum
}

// dotQuantGeneric dispatches on the weight type.
func dotQuantGeneric(dt DType, w []byte, a actRow) float32 {
	switch dt {
	case Q8_0:
		return dotQ8_0Generic(w, a)
	case Q4_0:
		return dotQ4_0Generic(w, a)
	case Q4_K:
		return dotQ45KGeneric(w, a, false)
	case Q5_K:
		return dotQ45KGeneric(w, a, true)
	case Q6_K:
		return dotQ6KGeneric(w, a)
	}
	panic("compute: not a quantized type: " + dt.String())
}
