package compute

import "unsafe"

// Prefill products of BF16 weights on Intel AMX (AMX-BF16 tile multiply),
// where the CPU has it: one TDPBF16PS multiplies a 16×32 bf16 tile by a
// 32×16 one into 16×16 float32 sums, about 15 times the float32 FMA rate of
// a core here. Activations are float32, so each is split into three bf16
// planes (hi + mid + lo, 24 significant bits between them) and every tile
// product runs once per plane: bf16×bf16 products are exact in float32, so
// the result keeps float32 accuracy at a third of the tile rate, still
// about 5 times the FMA GEMM. Weights need no split: they are bf16 already.
//
// A weight panel of 32 rows is packed as [k/2][32 rows][2 bf16] (the pair
// layout the tile multiply reads), which is the 32-bit transpose the float32
// packer already does; tiles of 32 tokens × 32 rows then sweep the panel.
const (
	amxTokens    = 32 // tokens per tile (two 16-row A tiles)
	amxPlanes    = 3  // bf16 planes per activation
	amxMinTokens = 8  // below this the FMA kernels win: the split and the 32-token tile cost more than they save
)

// amxConfig is the tile configuration LDTILECFG loads: palette 1 and eight
// tiles of 16 rows × 64 bytes.
func amxConfig() (cfg [64]byte) {
	cfg[0] = 1
	for t := range 8 {
		cfg[16+2*t] = 64
		cfg[48+t] = 16
	}
	return cfg
}

// amxUsable reports whether w × n tokens goes through the AMX kernel.
func (c *CPU) amxUsable(w Matrix, n int) bool {
	return c.useAMX && w.DType == BF16 && w.Cols%32 == 0 && n >= amxMinTokens
}

// amxTileElems is the bf16 elements of one 32-token tile of the planes per
// block of 32 k: three planes of 32 rows × 32 (see the layout in gemm_gen.go).
const amxTileElems = amxPlanes * amxTokens * 32

// splitTask fills the tile-major activation planes from x, a row at a time.
type splitTask struct {
	planes []uint16
	x      []float32
	cols   int
}

func (t *splitTask) Run(_, lo, hi int) {
	kblocks := t.cols / 32
	for r := lo; r < hi; r++ {
		// Row r's slot: its token tile, then its 16-row half, then its row.
		off := r/amxTokens*kblocks*amxTileElems + r%amxTokens/16*16*32 + r%16*32
		splitBF16x3(unsafe.Pointer(&t.planes[off]), &t.x[r*t.cols], kblocks)
	}
}

type amxTask struct {
	cpu    *CPU
	out    []float32
	n      int
	w      Matrix
	bias   []float32
	planes []uint16
	group  int // panels per work item
}

// amxMaxGroup is the most panels a work item packs before sweeping the
// tokens: the planes of one 32-token tile (3·32·cols bf16) are then read
// from memory once per group rather than once per panel, which measured as
// the bottleneck (a 512-token chunk's planes are megabytes, far past L2),
// while 8 packed panels (256 rows) still fit L2 beside that tile.
const amxMaxGroup = 8

// amxScratch is the per-worker scratch of one call: group packed panels
// (32 rows × cols bf16 each) and one 32×32 float32 tile for partial tiles.
func amxScratch(cols, group int) int { return group*gemmRows*cols/2 + amxTokens*gemmRows }

// Run handles panel groups [lo, hi): it packs a group's panels, then runs
// every 32-token tile against each of them.
func (t *amxTask) Run(worker, lo, hi int) {
	cols, rows, n := t.w.Cols, t.w.Rows, t.n
	panelLen := gemmRows * cols / 2
	panels := (rows + gemmRows - 1) / gemmRows
	scratch := t.cpu.scratch[worker]
	tile := scratch[t.group*panelLen : t.group*panelLen+amxTokens*gemmRows]
	cfg := &t.cpu.amxConfig
	for g := lo; g < hi; g++ {
		p0, p1 := g*t.group, min((g+1)*t.group, panels)
		for p := p0; p < p1; p++ {
			r0 := p * gemmRows
			// A bf16 pair is one 32-bit element: pack pairs as float32s.
			packRows(scratch[(p-p0)*panelLen:], F32, t.w.Data[r0*cols*2:], cols/2, min(gemmRows, rows-r0), cols/2)
		}
		for tok := 0; tok < n; tok += amxTokens {
			a := unsafe.Pointer(&t.planes[tok/amxTokens*(cols/32)*amxTileElems])
			for p := p0; p < p1; p++ {
				r0 := p * gemmRows
				nr := min(gemmRows, rows-r0)
				panel := unsafe.Pointer(&scratch[(p-p0)*panelLen])
				if tok+amxTokens <= n && nr == gemmRows {
					amxTile(&cfg[0], a, panel, cols/32, &t.out[tok*rows+r0], 4*rows)
					continue
				}
				amxTile(&cfg[0], a, panel, cols/32, &tile[0], 4*gemmRows)
				for tt := tok; tt < min(n, tok+amxTokens); tt++ {
					copy(t.out[tt*rows+r0:tt*rows+r0+nr], tile[(tt-tok)*gemmRows:])
				}
			}
		}
		if t.bias != nil {
			r0, r1 := p0*gemmRows, min(p1*gemmRows, rows)
			b := t.bias[r0:r1]
			for tok := range n {
				o := t.out[tok*rows+r0 : tok*rows+r1]
				for j := range o {
					o[j] += b[j]
				}
			}
		}
	}
}

// matMulAMX is MatMul for n ≥ amxMinTokens tokens of BF16 weights on AMX.
func (c *CPU) matMulAMX(out, x []float32, n int, w Matrix, bias []float32) {
	cols := w.Cols
	tiles := (n + amxTokens - 1) / amxTokens
	size := tiles * (cols / 32) * amxTileElems
	if len(c.amxPlanes) < size {
		c.amxPlanes = make([]uint16, size)
	}
	planes := c.amxPlanes[:size]
	if n%amxTokens != 0 {
		clear(planes[(tiles-1)*(cols/32)*amxTileElems:]) // the last tile's padding rows
	}
	s := &c.split
	s.planes, s.x, s.cols = planes, x[:n*cols], cols
	c.pool.Parallel(n, max(1, n/(4*c.pool.Workers())), s)
	s.planes, s.x = nil, nil

	// Groups as large as amxMaxGroup, but at least two per worker so an
	// unlucky worker (another process took its core) can be covered.
	panels := (w.Rows + gemmRows - 1) / gemmRows
	group := max(1, min(amxMaxGroup, panels/(2*c.pool.Workers())))
	c.ensureScratch(amxScratch(cols, group))
	t := &c.amx
	t.out, t.n, t.w, t.bias, t.planes, t.group = out[:n*w.Rows], n, w, bias, planes, group
	c.pool.Parallel((panels+group-1)/group, 1, t)
	t.out, t.bias, t.planes = nil, nil, nil
	t.w = Matrix{}
}
