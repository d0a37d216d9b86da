package compute

import (
	"encoding/binary"
	"math"
)

// Row panels for Q8_0 and Q4_0 batches of panelMinTokens tokens or more
// (the VNNI panel kernel, quantpanel_vnni_amd64.s): 16 weight rows are
// repacked per 32-value block so that each vector lane is a row and holds
// 4 consecutive weights as unsigned bytes (Q8_0's int8 shifted by +128,
// Q4_0's nibbles 0…15), followed by the 16 rows' block scales as float32
// (panelBlockBytes bytes a block). A token's activations are packed per
// block (actBlockBytes): 32 int8 values, the float scale, and the int32
// offset term that starts the block's integer sums: -128·Σq for Q8_0 (the
// shift), -8·Σq for Q4_0 (its offset of 8). One VPDPBUSD then makes 64
// products for 16 rows of one token, and the float work comes once per
// block, token and 16 rows.

const (
	panelRows       = 16
	panelBlockBytes = 8*64 + 64 // 8 vectors of 16 rows × 4 weights, 16 scales
	actBlockBytes   = 32 + 4 + 4
	// panelMinTokens is the smallest batch that takes the panels: below
	// it, repacking 16 rows costs more than the token tiles spend.
	panelMinTokens = 16
)

// packPanelQ packs rows r0 … r0+15 of w (zero rows past w.Rows) into dst.
func packPanelQ(dst []byte, w Matrix, r0 int) {
	nb := w.Cols / 32
	rb := w.DType.RowBytes(w.Cols)
	dst = dst[:nb*panelBlockBytes]
	clear(dst)
	var scratch [16]byte
	for r := range min(panelRows, w.Rows-r0) {
		row := w.Data[(r0+r)*rb : (r0+r+1)*rb]
		for b := range nb {
			blk := dst[b*panelBlockBytes : (b+1)*panelBlockBytes]
			var d uint16
			var vals [32]byte
			if w.DType == Q8_0 {
				d = binary.LittleEndian.Uint16(q8_0Block(w, row, r0, r, b, &vals))
			} else {
				qs, dBytes := q4_0Block(w, row, r0, r, b, &scratch)
				d = binary.LittleEndian.Uint16(dBytes)
				for i, q := range qs {
					vals[i], vals[16+i] = q&0xF, q>>4
				}
			}
			for k := range 8 {
				copy(blk[64*k+4*r:64*k+4*r+4], vals[4*k:4*k+4])
			}
			binary.LittleEndian.PutUint32(blk[512+4*r:], math.Float32bits(F16ToF32(d)))
		}
	}
}

// q8_0Block puts the 32 values of block b of row r0+r of a Q8_0 matrix,
// shifted by +128, in vals and returns the block's fp16 scale: from its
// x16 panel when w was repacked (which holds them shifted; the mapped file
// stays untouched), else from the stored row.
func q8_0Block(w Matrix, row []byte, r0, r, b int, vals *[32]byte) (d []byte) {
	if w.x16 == nil {
		src := row[34*b : 34*b+34]
		for i, q := range src[2:] {
			vals[i] = q ^ 0x80
		}
		return src[:2]
	}
	unit, k := w.x16.unit(r0/x16Rows, b/2), b%2
	for v := range 8 {
		copy(vals[4*v:4*v+4], unit[512*k+64*v+4*r:])
	}
	return unit[1024+32*k+2*r : 1024+32*k+2*r+2]
}

// q4_0Block returns the 16 stored value bytes and the fp16 scale of block b
// of row r0+r of a Q4_0 matrix: from its x16 panel when w was repacked (the
// mapped file stays untouched), else from the stored row.
func q4_0Block(w Matrix, row []byte, r0, r, b int, scratch *[16]byte) (qs, d []byte) {
	if w.x16 == nil {
		return row[18*b+2 : 18*b+18], row[18*b : 18*b+2]
	}
	unit, k := w.x16.unit(r0/x16Rows, b/2), b%2
	for v := range 4 {
		copy(scratch[4*v:4*v+4], unit[256*k+64*v+4*r:])
	}
	return scratch[:], unit[512+32*k+2*r : 512+32*k+2*r+2]
}

// packActPanel packs tokens [lo, hi) of a (quantized) into dst, n·nb
// blocks of actBlockBytes, for weights of type dt.
func packActPanel(dst []byte, a *qact, dt DType, lo, hi int) {
	nb := a.cols / 32
	shift := int32(-128)
	if dt == Q4_0 {
		shift = -8
	}
	for t := lo; t < hi; t++ {
		row := a.row(t)
		out := dst[t*nb*actBlockBytes : (t+1)*nb*actBlockBytes]
		for b := range nb {
			blk := out[b*actBlockBytes : (b+1)*actBlockBytes]
			for i, q := range row.qs[32*b : 32*b+32] {
				blk[i] = byte(q)
			}
			binary.LittleEndian.PutUint32(blk[32:], math.Float32bits(row.d[b]))
			binary.LittleEndian.PutUint32(blk[36:], uint32(shift*int32(row.s32[b])))
		}
	}
}

// panelPrepTask quantizes and packs the activations, a token per item.
type panelPrepTask struct {
	act *qact
	x   []float32
	dt  DType
	buf []byte
}

func (t *panelPrepTask) Run(_, lo, hi int) {
	t.act.quantizeRows(t.x, lo, hi)
	if t.dt == Q8_0 || t.dt == Q4_0 {
		packActPanel(t.buf, t.act, t.dt, lo, hi)
	} else {
		packActPanelK(t.buf, t.act, t.dt, lo, hi)
	}
}

// panelTask multiplies panels of 16 rows (items) by every token.
type panelTask struct {
	cpu  *CPU
	act  []byte // packed activations, padded to a multiple of 4 tokens
	out  []float32
	n    int
	w    Matrix
	bias []float32
}

func (t *panelTask) Run(worker, lo, hi int) {
	rows := t.w.Rows
	k := t.w.DType != Q8_0 && t.w.DType != Q4_0
	units, unitBytes, actBytes := t.w.Cols/32, panelBlockBytes, actBlockBytes
	if k {
		unitBytes, actBytes = panelUnitBytesK, actUnitBytesK
	}
	panel := t.cpu.quant.panels[worker][:units*unitBytes]
	stride := units * actBytes
	var res [64]float32
	for p := lo; p < hi; p++ {
		r0 := p * panelRows
		nr := min(panelRows, rows-r0)
		if k {
			packPanelK(panel, t.w, r0)
		} else {
			packPanelQ(panel, t.w, r0)
		}
		for tok := 0; tok < t.n; tok += 4 {
			if k {
				panelKernelK(panel, t.act[tok*stride:], stride, units, &res)
			} else {
				panelKernel(panel, t.act[tok*stride:], stride, units, &res)
			}
			for j := range min(4, t.n-tok) {
				o := t.out[(tok+j)*rows+r0 : (tok+j)*rows+r0+nr]
				copy(o, res[16*j:16*j+nr])
				if t.bias != nil {
					for r := range o {
						o[r] += t.bias[r0+r]
					}
				}
			}
		}
	}
}

// usesPanels reports whether a batch of n tokens with w goes through a
// panel kernel.
func usesPanels(w Matrix, n int) bool {
	return n >= panelMinTokens && (usesTiles(w) || usesPanelsK(w))
}

// quantPanelMatMul is MatMul through the panel kernels (usesPanels).
func (c *CPU) quantPanelMatMul(out, x []float32, n int, w Matrix, bias []float32) {
	t := &c.quant
	units, unitBytes, actBytes := w.Cols/32, panelBlockBytes, actBlockBytes
	if w.DType != Q8_0 && w.DType != Q4_0 {
		unitBytes, actBytes = panelUnitBytesK, actUnitBytesK
	}
	padded := (n + 3) &^ 3
	size := padded * units * actBytes
	if cap(t.tile) < size {
		t.tile = make([]byte, size)
	}
	buf := t.tile[:size]
	clear(buf[n*units*actBytes:]) // the padding tokens: zero products
	t.act.size(n, w.Cols, actBlock(w.DType))
	t.act.p4, t.act.neg = nil, nil
	prep := panelPrepTask{act: &t.act, x: x[:n*w.Cols], dt: w.DType, buf: buf}
	c.pool.Parallel(n, max(4, n/(4*c.pool.Workers())), &prep)
	if len(t.panels) < c.pool.Workers() {
		t.panels = make([][]byte, c.pool.Workers())
	}
	for i := range t.panels {
		if len(t.panels[i]) < units*unitBytes {
			t.panels[i] = make([]byte, units*unitBytes)
		}
	}
	pt := panelTask{cpu: c, act: buf, out: out[:n*w.Rows], n: n, w: w, bias: bias}
	panels := (w.Rows + panelRows - 1) / panelRows
	c.pool.Parallel(panels, max(1, panels/(4*c.pool.Workers())), &pt)
}
