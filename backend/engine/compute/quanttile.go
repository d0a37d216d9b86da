package compute

import (
	"encoding/binary"
	"math"
)

// Token tiles for Q8_0 and Q4_0 batches of tileMinTokens to
// panelMinTokens tokens (larger ones take the row panels, quantpanel.go):
// the VNNI tile kernels (quanttile_vnni_amd64.s) multiply 4 weight rows by
// 4 tokens per call, so a row's blocks are read and unpacked once per 4
// tokens and a token's activations once per 4 rows. The activations of each
// group of 4 tokens are packed per pair of 32-value blocks (tileBytes
// bytes): the 4 tokens' 64 int8 values (for Q4_0 in the order of
// actRow.p4), then their 16 int32 starting lanes, then their 16 float32
// activation scales, lane by lane. A starting lane carries the weights'
// offset for the 4 values its VPDPBUSD lane sums: for Q4_0 -Σq of the
// lane's block (its 8 lanes add up to -8·Σq, the offset of 8 per value);
// for Q8_0, whose weights the kernel shifts by +128 to make them unsigned,
// -128·Σ of the lane's 4 values.

// tileBytes is the packed activations of 4 tokens for one pair of blocks.
const tileBytes = 4 * (64 + 64 + 64)

// tileMinTokens is the smallest batch that takes the tile kernels.
const tileMinTokens = 4

// packTileGroup packs tokens [4g, 4g+4) of a (fewer at the end: the
// missing ones are zero, and contribute 0) for weights of type dt into dst
// (pairs·tileBytes).
func packTileGroup(dst []byte, a *qact, dt DType, n, g int) {
	pairs := a.cols / 64
	dst = dst[:pairs*tileBytes]
	for j := range 4 {
		t := 4*g + j
		if t >= n {
			for p := range pairs {
				base := p * tileBytes
				clear(dst[base+64*j : base+64*j+64])
				clear(dst[base+256+64*j : base+256+64*j+64])
				clear(dst[base+512+64*j : base+512+64*j+64])
			}
			continue
		}
		row := a.row(t)
		for p := range pairs {
			base := p * tileBytes
			x := dst[base+64*j : base+64*j+64]
			start := dst[base+256+64*j : base+256+64*j+64]
			scale := dst[base+512+64*j : base+512+64*j+64]
			q := row.qs[64*p : 64*p+64]
			d0, d1 := math.Float32bits(row.d[2*p]), math.Float32bits(row.d[2*p+1])
			if dt == Q4_0 {
				// values b0 0-15, b1 0-15, b0 16-31, b1 16-31; lanes 0-3 and
				// 8-11 belong to b0.
				for i := range 16 {
					x[i], x[16+i], x[32+i], x[48+i] = byte(q[i]), byte(q[32+i]), byte(q[16+i]), byte(q[48+i])
				}
				n0, n1 := uint32(-int32(row.s32[2*p])), uint32(-int32(row.s32[2*p+1]))
				for l := range 16 {
					v, d := n0, d0
					if l&4 != 0 {
						v, d = n1, d1
					}
					binary.LittleEndian.PutUint32(start[4*l:], v)
					binary.LittleEndian.PutUint32(scale[4*l:], d)
				}
				continue
			}
			for i, v := range q {
				x[i] = byte(v)
			}
			for l := range 16 {
				s := int32(q[4*l]) + int32(q[4*l+1]) + int32(q[4*l+2]) + int32(q[4*l+3])
				d := d0
				if l >= 8 {
					d = d1
				}
				binary.LittleEndian.PutUint32(start[4*l:], uint32(-128*s))
				binary.LittleEndian.PutUint32(scale[4*l:], d)
			}
		}
	}
}

// tilePrepTask quantizes and packs the activations, a group of 4 tokens
// per item.
type tilePrepTask struct {
	act  *qact
	x    []float32
	dt   DType
	n    int
	tile []byte
}

func (t *tilePrepTask) Run(_, lo, hi int) {
	size := t.act.cols / 64 * tileBytes
	t.act.quantizeRows(t.x, 4*lo, min(4*hi, t.n))
	for g := lo; g < hi; g++ {
		packTileGroup(t.tile[g*size:(g+1)*size], t.act, t.dt, t.n, g)
	}
}

// tileTask multiplies quads of weight rows (items) by every group of 4
// tokens.
type tileTask struct {
	act  *qact
	tile []byte
	out  []float32
	n    int
	w    Matrix
	bias []float32
}

func (t *tileTask) Run(_, lo, hi int) {
	rows, cols, rb := t.w.Rows, t.w.Cols, t.w.DType.RowBytes(t.w.Cols)
	size := cols / 64 * tileBytes
	groups := (t.n + 3) / 4
	var res [16]float32
	// Token blocks of 16 groups keep their packed activations in cache
	// while the chunk's rows go by.
	for g0 := 0; g0 < groups; g0 += 16 {
		for q := lo; q < hi; q++ {
			r0 := 4 * q
			if r0+4 > rows { // the last rows, fewer than 4: one at a time
				for tok := 4 * g0; tok < min(4*(g0+16), t.n); tok++ {
					for r := r0; r < rows; r++ {
						t.out[tok*rows+r] = dotQuant(t.w.DType, t.w.Data[r*rb:(r+1)*rb], t.act.row(tok))
					}
				}
				continue
			}
			w := t.w.Data[r0*rb : (r0+4)*rb]
			for g := g0; g < min(g0+16, groups); g++ {
				tileKernel(t.w.DType, w, rb, t.tile[g*size:(g+1)*size], cols/64, &res)
				for j := range min(4, t.n-4*g) {
					copy(t.out[(4*g+j)*rows+r0:(4*g+j)*rows+r0+4], res[4*j:4*j+4])
				}
			}
		}
	}
	if t.bias != nil {
		for tok := range t.n {
			o := t.out[tok*rows+4*lo : tok*rows+min(4*hi, rows)]
			for r := range o {
				o[r] += t.bias[4*lo+r]
			}
		}
	}
}

// quantTileMatMul is MatMul for Q8_0 and Q4_0 weights and n ≥
// tileMinTokens tokens through the tile kernels (usesTiles).
func (c *CPU) quantTileMatMul(out, x []float32, n int, w Matrix, bias []float32) {
	t := &c.quant
	groups := (n + 3) / 4
	size := w.Cols / 64 * tileBytes
	if cap(t.tile) < groups*size {
		t.tile = make([]byte, groups*size)
	}
	t.act.size(n, w.Cols, 32)
	t.act.p4, t.act.neg = nil, nil
	prep := tilePrepTask{act: &t.act, x: x[:n*w.Cols], dt: w.DType, n: n, tile: t.tile[:groups*size]}
	c.pool.Parallel(groups, max(1, groups/(4*c.pool.Workers())), &prep)
	tt := tileTask{act: &t.act, tile: t.tile[:groups*size], out: out[:n*w.Rows], n: n, w: w, bias: bias}
	quads := (w.Rows + 3) / 4
	c.pool.Parallel(quads, max(1, quads/(4*c.pool.Workers())), &tt)
}
