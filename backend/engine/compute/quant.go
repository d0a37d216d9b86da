package compute

import (
	"encoding/binary"
	"fmt"
)

// Block-quantized weights, laid out exactly as ggml defines them
// (ggml-common.h; decoding as ggml-quants.c's dequantize_row_*). A row of
// Cols values is Cols/BlockValues consecutive blocks; fp16 fields are
// little-endian IEEE halves.
//
//	Q8_0 (34 B / 32):  d fp16, qs int8[32]                 x = d·q
//	Q4_0 (18 B / 32):  d fp16, qs uint8[16]                x = d·(q-8); q of x[j] is qs[j]&15, of x[j+16] qs[j]>>4
//	Q4_K (144 B / 256): d, dmin fp16, scales[12], qs[128]  x = d·sc_j·q - dmin·m_j, 8 sub-blocks of 32 with 6-bit sc_j, m_j
//	Q5_K (176 B / 256): d, dmin, scales[12], qh[32], qs[128]  as Q4_K with a fifth bit from qh
//	Q6_K (210 B / 256): ql[128], qh[64], scales int8[16], d fp16  x = d·sc_g·(q-32), 16 groups of 16
const (
	Q8_0 DType = iota + 3
	Q4_0
	Q4_K
	Q5_K
	Q6_K
)

// blockLayout is a type's values and bytes per block (1 value of Size()
// bytes for the float types).
func (d DType) blockLayout() (values, bytes int) {
	switch d {
	case Q8_0:
		return 32, 34
	case Q4_0:
		return 32, 18
	case Q4_K:
		return 256, 144
	case Q5_K:
		return 256, 176
	case Q6_K:
		return 256, 210
	}
	return 1, d.Size()
}

// Quantized reports whether d is a block-quantized type.
func (d DType) Quantized() bool { return d >= Q8_0 && d <= Q6_K }

// RowBytes is the storage of one row of cols values, or -1 when cols is not
// a whole number of blocks.
func (d DType) RowBytes(cols int) int {
	v, b := d.blockLayout()
	if cols%v != 0 {
		return -1
	}
	return cols / v * b
}

func (d DType) quantName() string {
	return [...]string{"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"}[d-Q8_0]
}

// f16 reads the little-endian half at b[0:2] as float32.
func f16(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// kScaleMin unpacks the 6-bit scale and min of sub-block j from a Q4_K/Q5_K
// scales field (ggml's get_scale_min_k4).
func kScaleMin(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// DequantizeRow decodes one row of a quantized (or float) type into dst
// (len = values), bit for bit as ggml's dequantize_row_* and gguf-py do.
// Explicit float32 conversions keep every product rounded on its own (Go
// may otherwise fuse a multiply-add on some CPUs).
func DequantizeRow(dst []float32, dt DType, src []byte) error {
	if rb := dt.RowBytes(len(dst)); rb != len(src) {
		return fmt.Errorf("dequantize %s: %d bytes for %d values, want %d", dt, len(src), len(dst), rb)
	}
	switch dt {
	case F32, F16, BF16:
		widenRange(dst, Matrix{DType: dt, Rows: 1, Cols: len(dst), Data: Realign(Matrix{DType: dt, Data: src}).Data}, 0, len(dst))
	case Q8_0:
		for b := 0; b < len(dst)/32; b++ {
			blk, y := src[34*b:34*b+34], dst[32*b:32*b+32]
			d := f16(blk)
			for j, q := range blk[2:34] {
				y[j] = float32(int8(q)) * d
			}
		}
	case Q4_0:
		for b := 0; b < len(dst)/32; b++ {
			blk, y := src[18*b:18*b+18], dst[32*b:32*b+32]
			d := f16(blk)
			for j, q := range blk[2:18] {
				y[j] = float32(int(q&0xF)-8) * d
				y[j+16] = float32(int(q>>4)-8) * d
			}
		}
	case Q4_K, Q5_K:
		values, bytes := dt.blockLayout()
		for b := 0; b < len(dst)/values; b++ {
			blk, y := src[bytes*b:bytes*(b+1)], dst[values*b:values*(b+1)]
			d, dmin := f16(blk), f16(blk[2:])
			scales := blk[4:16]
			qh, qs := blk[16:48], blk[16:144]
			if dt == Q5_K {
				qs = blk[48:176]
			}
			for c := 0; c < 4; c++ { // 64 values: sub-blocks 2c (low nibbles), 2c+1 (high)
				sc, m := kScaleMin(2*c, scales)
				d1, m1 := d*float32(sc), float32(dmin*float32(m)) // no fused multiply-subtract below
				sc, m = kScaleMin(2*c+1, scales)
				d2, m2 := d*float32(sc), float32(dmin*float32(m))
				q := qs[32*c : 32*c+32]
				for l := 0; l < 32; l++ {
					lo, hi := int(q[l]&0xF), int(q[l]>>4)
					if dt == Q5_K {
						lo += int(qh[l]>>(2*c)&1) << 4
						hi += int(qh[l]>>(2*c+1)&1) << 4
					}
					y[64*c+l] = float32(d1*float32(lo)) - m1
					y[64*c+32+l] = float32(d2*float32(hi)) - m2
				}
			}
		}
	case Q6_K:
		for b := 0; b < len(dst)/256; b++ {
			blk, y := src[210*b:210*(b+1)], dst[256*b:256*(b+1)]
			d := f16(blk[208:])
			for n := 0; n < 2; n++ {
				ql, qh := blk[64*n:64*n+64], blk[128+32*n:128+32*n+32]
				sc := blk[192+8*n : 192+8*n+8]
				yy := y[128*n : 128*n+128]
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
					q2 := int(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
					q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
					q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
					yy[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
					yy[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
					yy[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
					yy[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
				}
			}
		}
	default:
		return fmt.Errorf("dequantize: unknown type %v", dt)
	}
	return nil
}
