package compute

import (
	"encoding/binary"
	"math"
)

// Row panels for the K-quants (Q4_K, Q5_K, Q6_K; vnniPanelK): as the
// Q8_0/Q4_0 panels (quantpanel.go), in units of 32 values. A row's unit
// holds its 32 weights as unsigned bytes (Q4_K's nibbles, Q5_K's 5-bit
// values, Q6_K's 6-bit values 0…63), and per row two float scales (values
// 0-15 and 16-31: d·sc of Q6_K's two groups of 16, d·sc_j twice for
// Q4_K/Q5_K) and a min (-dmin·m_j; 0 for Q6_K). A token's unit: 32 int8,
// its 256-block's scale, two int32 starting sums (Q6_K's -32·Σq per 16
// values, else 0) and scale·Σq of the 32 values (for the mins).
const (
	panelUnitBytesK = 8*64 + 3*64
	actUnitBytesK   = 48
)

// usesPanelsK reports whether batches of panelMinTokens or more with w go
// through the K-quant panel kernel.
func usesPanelsK(w Matrix) bool {
	return (w.DType == Q4_K || w.DType == Q5_K || w.DType == Q6_K) && w.Cols%256 == 0 && w.Cols > 0 && hasPanelKernels()
}

// kValues decodes the unsigned values of one 256-value K-quant block in
// order, as ggml's dequantize_row_q4_K/q5_K/q6_K read them: Q4_K's 4-bit,
// Q5_K's 5-bit and Q6_K's 6-bit values (0…63, before the -32).
func kValues(dt DType, blk []byte, q *[256]byte) {
	switch dt {
	case Q4_K, Q5_K:
		qh, qs := blk[16:48], blk[16:144]
		if dt == Q5_K {
			qs = blk[48:176]
		}
		for c := range 4 {
			for l := range 32 {
				lo, hi := qs[32*c+l]&0xF, qs[32*c+l]>>4
				if dt == Q5_K {
					lo |= (qh[l] >> (2 * c) & 1) << 4
					hi |= (qh[l] >> (2*c + 1) & 1) << 4
				}
				q[64*c+l], q[64*c+32+l] = lo, hi
			}
		}
	case Q6_K:
		for n := range 2 {
			ql, qh := blk[64*n:64*n+64], blk[128+32*n:128+32*n+32]
			for l := range 32 {
				q[128*n+l] = ql[l]&0xF | (qh[l]>>0&3)<<4
				q[128*n+l+32] = ql[l+32]&0xF | (qh[l]>>2&3)<<4
				q[128*n+l+64] = ql[l]>>4 | (qh[l]>>4&3)<<4
				q[128*n+l+96] = ql[l+32]>>4 | (qh[l]>>6&3)<<4
			}
		}
	}
}

// kUnits decodes one 256-value block of type dt into its unsigned values q
// and per unit of 32 its two scales and min.
func kUnits(dt DType, blk []byte, q *[256]byte, slo, shi, mins *[8]float32) {
	kValues(dt, blk, q)
	switch dt {
	case Q4_K, Q5_K:
		d, dmin := f16(blk), f16(blk[2:])
		for s := range 8 {
			sc, m := kScaleMin(s, blk[4:16])
			slo[s] = d * float32(sc)
			shi[s] = slo[s]
			mins[s] = -(dmin * float32(m))
		}
	case Q6_K:
		d := f16(blk[208:])
		sc := blk[192:208]
		for u := range 8 {
			slo[u] = d * float32(int8(sc[2*u]))
			shi[u] = d * float32(int8(sc[2*u+1]))
			mins[u] = 0
		}
	}
}

// packPanelK packs rows r0 … r0+15 of w (zero rows past w.Rows) into dst,
// from its x16 panel when w was repacked (r0 is a multiple of 16, and so is
// every x16 panel's first row).
func packPanelK(dst []byte, w Matrix, r0 int) {
	nb := w.Cols / 256
	rb := w.DType.RowBytes(w.Cols)
	_, bb := w.DType.blockLayout()
	dst = dst[:8*nb*panelUnitBytesK]
	clear(dst)
	var q [256]byte
	var slo, shi, mins [8]float32
	for r := range min(panelRows, w.Rows-r0) {
		row := w.Data[(r0+r)*rb : (r0+r+1)*rb]
		for b := range nb {
			if w.x16 != nil { // the same values from the decode layout: the mapped file stays untouched
				kUnitsX16(w.DType, w.x16.unit(r0/x16Rows, b), r, &q, &slo, &shi, &mins)
			} else {
				kUnits(w.DType, row[bb*b:bb*(b+1)], &q, &slo, &shi, &mins)
			}
			for u := range 8 {
				unit := dst[(8*b+u)*panelUnitBytesK : (8*b+u+1)*panelUnitBytesK]
				for k := range 8 {
					copy(unit[64*k+4*r:64*k+4*r+4], q[32*u+4*k:32*u+4*k+4])
				}
				binary.LittleEndian.PutUint32(unit[512+4*r:], math.Float32bits(slo[u]))
				binary.LittleEndian.PutUint32(unit[576+4*r:], math.Float32bits(shi[u]))
				binary.LittleEndian.PutUint32(unit[640+4*r:], math.Float32bits(mins[u]))
			}
		}
	}
}

// packActPanelK packs tokens [lo, hi) of a into dst for weights of type dt.
func packActPanelK(dst []byte, a *qact, dt DType, lo, hi int) {
	nu := a.cols / 32
	for t := lo; t < hi; t++ {
		row := a.row(t)
		out := dst[t*nu*actUnitBytesK : (t+1)*nu*actUnitBytesK]
		for u := range nu {
			unit := out[u*actUnitBytesK : (u+1)*actUnitBytesK]
			for i, v := range row.qs[32*u : 32*u+32] {
				unit[i] = byte(v)
			}
			dx := row.d[u/8]
			var c0, c1 int32
			if dt == Q6_K {
				c0, c1 = -32*int32(row.s16[2*u]), -32*int32(row.s16[2*u+1])
			}
			binary.LittleEndian.PutUint32(unit[32:], math.Float32bits(dx))
			binary.LittleEndian.PutUint32(unit[36:], uint32(c0))
			binary.LittleEndian.PutUint32(unit[40:], uint32(c1))
			binary.LittleEndian.PutUint32(unit[44:], math.Float32bits(dx*float32(row.s32[u])))
		}
	}
}
