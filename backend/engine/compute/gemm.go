package compute

import "unsafe"

// The prefill GEMM: out[t][r] = bias[r] + Σ_c w[r][c]·x[t][c] for many
// tokens t at once. Weight rows are taken gemmRows at a time into a panel,
// widened to float32 and transposed so that panel[k] holds column k of
// those rows: one vector load then feeds every token of a tile. The
// micro-kernel keeps a tile of gemmTokens tokens × gemmRows rows in 24
// vector registers, broadcasting one activation per token and k, so each
// loaded weight vector is used 12 times and each activation twice, with no
// horizontal sums (the dot-product formulation needs 24 of them per tile).
// A panel is packed once per call and reused for all n tokens.
//
// There is deliberately no VDPBF16PS (AVX512-BF16) kernel: it multiplies
// bf16 by bf16, so float32 activations would have to be split into three
// bf16 planes to keep float32 accuracy (two leave errors of about 2^-18,
// several times float32's, which TestAMXMatMul catches), and then it
// takes three instructions per 32 useful products where the FMA takes two,
// at any equal issue rate; on this machine VDPBF16PS also issues at half the
// FMA rate (make bench reports both peaks). Rounding activations to bf16 as
// llama.cpp does would double the rate on CPUs that issue it like an FMA,
// at about 2^-9 relative error per activation.
const (
	gemmRows   = 32 // weight rows per panel: two 16-lane vectors
	gemmTokens = 12 // tokens per micro-kernel tile
	// gemmMinTokens is the smallest n that takes the GEMM path: below it,
	// packing a panel costs more than the 4×2 dot-product kernel saves.
	gemmMinTokens = 4
)

// packPanel fills panel (len gemmRows·w.Cols) with rows r0 … r0+31 of w,
// transposed: panel[k*gemmRows+j] = w[r0+j][k], zero for rows past w.Rows.
func packPanel(panel []float32, w Matrix, r0 int) {
	size := w.DType.Size()
	packRows(panel, w.DType, w.Data[r0*w.Cols*size:], w.Cols, min(gemmRows, w.Rows-r0), w.Cols)
}

// packRows is packPanel for rows (≤ gemmRows) of cols elements of type dt,
// row r starting at element r·ld of data.
func packRows(panel []float32, dt DType, data []byte, ld, rows, cols int) {
	packRowsWidth(panel, gemmRows, dt, data, ld, rows, cols)
}

// packRowsWidth packs rows (≤ width) into a panel width floats wide:
// panel[k*width+j] = row j, element k. Whole half-panels of rows and
// blocks of width/2 columns go through the assembly packer (AVX-512 for 32
// wide, AVX2 for 16); the rest (a partial last panel, the last columns) is
// scalar.
func packRowsWidth(panel []float32, width int, dt DType, data []byte, ld, rows, cols int) {
	size := dt.Size()
	half := width / 2
	kblocks := cols / half
	for h := range 2 {
		h0 := half * h
		done := 0
		if h0+half <= rows && kblocks > 0 {
			src := unsafe.Pointer(&data[h0*ld*size])
			if width == gemmRows {
				packHalfBlocks(panel[h0:], dt, src, ld*size, kblocks)
			} else {
				packHalfBlocksAVX2(panel[h0:], dt, src, ld*size, kblocks)
			}
			done = half * kblocks
		}
		for j := range half {
			r := h0 + j
			dst := panel[r:]
			if r >= rows {
				for k := done; k < cols; k++ {
					dst[k*width] = 0
				}
				continue
			}
			for k := done; k < cols; k++ {
				dst[k*width] = elementAt(dt, data, r*ld+k)
			}
		}
	}
}

// elementAt is element i of data (type dt), widened.
func elementAt(dt DType, data []byte, i int) float32 {
	switch dt {
	case BF16:
		return BF16ToF32(u16s(data)[i])
	case F16:
		return F16ToF32(u16s(data)[i])
	}
	return f32s(data)[i]
}

// gemmTileGeneric is the portable definition of one micro-kernel call, the
// reference the assembly is tested against: for t < m and the rows j set in
// mask, c[t*ldc+j] = bias[j] + Σ_k x[t*ldx+k]·panel[k*ldp+j] (strides in
// elements).
func gemmTileGeneric(m int, x []float32, ldx int, panel []float32, ldp, k int, c []float32, ldc int, bias []float32, mask uint32) {
	for t := range m {
		for j := range gemmRows {
			if mask&(1<<j) == 0 {
				continue
			}
			s := bias[j]
			for kk := range k {
				s += x[t*ldx+kk] * panel[kk*ldp+j]
			}
			c[t*ldc+j] = s
		}
	}
}

type gemmTask struct {
	cpu    *CPU
	out, x []float32
	n      int
	w      Matrix
	bias   []float32
	avx2   bool // the AVX2 kernels: 16-row panels, 6-token tiles
}

// Run handles panels [lo, hi): it packs each panel into the worker's
// scratch, then sweeps the tokens through it a tile at a time.
func (t *gemmTask) Run(worker, lo, hi int) {
	if t.avx2 {
		t.runAVX2(worker, lo, hi)
		return
	}
	cols, rows, n := t.w.Cols, t.w.Rows, t.n
	panel := t.cpu.scratch[worker][:gemmRows*cols]
	decoded := t.cpu.scratch[worker][gemmRows*cols:]
	for p := lo; p < hi; p++ {
		r0 := p * gemmRows
		nr := min(gemmRows, rows-r0)
		if t.w.DType.Quantized() {
			packQuantRows(panel, gemmRows, decoded, t.w, r0, nr)
		} else {
			packPanel(panel, t.w, r0)
		}
		mask := uint32(1<<nr - 1)
		bias := &t.cpu.zeroBias[0]
		if t.bias != nil {
			bias = &t.bias[r0]
		}
		for tok := 0; tok < n; tok += gemmTokens {
			m := min(gemmTokens, n-tok)
			gemmTile(m, &t.x[tok*cols], 4*cols, &panel[0], 4*gemmRows, cols, &t.out[tok*rows+r0], 4*rows, bias, mask)
		}
	}
}

// gemmDecodeScratch is the scratch floats a worker needs to decode a
// panel of width rows of w: none for float types.
func gemmDecodeScratch(w Matrix, width int) int {
	if !w.DType.Quantized() {
		return 0
	}
	return width * w.Cols
}

// packQuantRows packs rows r0 … r0+nr-1 of the quantized w into a panel
// width floats wide: it decodes them into decoded (width·w.Cols floats),
// exactly as DequantizeRow does, and packs those as float32 rows.
func packQuantRows(panel []float32, width int, decoded []float32, w Matrix, r0, nr int) {
	cols := w.Cols
	decoded = decoded[:nr*cols]
	for j := range nr {
		WidenRow(decoded[j*cols:(j+1)*cols], w, r0+j)
	}
	packRowsWidth(panel, width, F32, unsafe.Slice((*byte)(unsafe.Pointer(&decoded[0])), 4*len(decoded)), cols, nr, cols)
}

// AVX2 tile shape: avx2Rows weight rows (two 8-lane vectors) × avx2Tokens
// tokens in 12 of the 16 vector registers.
const (
	avx2Rows   = 16
	avx2Tokens = 6
)

// gemmScratchAVX2 is the per-worker scratch of the AVX2 path: a panel, a
// tile for partial panels and 16 bias values.
func gemmScratchAVX2(cols int) int { return avx2Rows*cols + avx2Tokens*avx2Rows + avx2Rows }

// runAVX2 is Run with the AVX2 kernels. They have no masked stores, so a
// partial last panel goes through a scratch tile (and padded bias).
func (t *gemmTask) runAVX2(worker, lo, hi int) {
	cols, rows, n := t.w.Cols, t.w.Rows, t.n
	size := t.w.DType.Size()
	scratch := t.cpu.scratch[worker]
	panel := scratch[:avx2Rows*cols]
	tile := scratch[avx2Rows*cols : avx2Rows*cols+avx2Tokens*avx2Rows]
	padded := scratch[avx2Rows*cols+avx2Tokens*avx2Rows : avx2Rows*cols+avx2Tokens*avx2Rows+avx2Rows]
	decoded := scratch[gemmScratchAVX2(cols):]
	for p := lo; p < hi; p++ {
		r0 := p * avx2Rows
		nr := min(avx2Rows, rows-r0)
		if t.w.DType.Quantized() {
			packQuantRows(panel, avx2Rows, decoded, t.w, r0, nr)
		} else {
			packRowsWidth(panel, avx2Rows, t.w.DType, t.w.Data[r0*cols*size:], cols, nr, cols)
		}
		clear(padded)
		if t.bias != nil {
			copy(padded, t.bias[r0:r0+nr])
		}
		for tok := 0; tok < n; tok += avx2Tokens {
			m := min(avx2Tokens, n-tok)
			if nr == avx2Rows {
				gemmTileAVX2(m, &t.x[tok*cols], 4*cols, &panel[0], cols, &t.out[tok*rows+r0], 4*rows, &padded[0])
				continue
			}
			gemmTileAVX2(m, &t.x[tok*cols], 4*cols, &panel[0], cols, &tile[0], 4*avx2Rows, &padded[0])
			for tt := range m {
				copy(t.out[(tok+tt)*rows+r0:(tok+tt)*rows+r0+nr], tile[tt*avx2Rows:])
			}
		}
	}
}
