package compute

import "unsafe"

// Prefill products on Intel AMX (AMX-BF16 tile multiply), where the CPU has
// it: one TDPBF16PS multiplies a 16×32 bf16 tile by a 32×16 one into 16×16
// float32 sums, about 15 times the float32 FMA rate of a core here.
// Activations are float32, so each is split into three bf16 planes (hi +
// mid + lo, 24 significant bits between them); BF16 weights are one plane
// already, F16 weights two (exactly), F32 weights three. bf16×bf16 products
// are exact in float32, and the kernel multiplies every pair of planes
// whose product can reach 2^-24 of the result (3 for BF16, 5 for F16, 6 for
// F32), so results keep float32 accuracy at a third to a sixth of the tile
// rate: still several times the FMA GEMM.
//
// A weight panel of 32 rows is packed per plane as [k/2][32 rows][2 bf16]
// (the pair layout the tile multiply reads), which is the 32-bit transpose
// the float32 packer already does; tiles of 32 tokens × 32 rows then sweep
// the panel.
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
	return c.useAMX && w.Cols%32 == 0 && n >= amxMinTokens
}

// amxWeightPlanes is how many bf16 planes hold a weight of type dt: BF16
// and F16 exactly, F32 to float32 accuracy.
func amxWeightPlanes(dt DType) int {
	switch dt {
	case BF16:
		return 1
	case F16:
		return 2
	}
	return 3
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
		splitBF16x3(unsafe.Pointer(&t.planes[off]), &t.x[r*t.cols], kblocks, 2*amxTokens*32, 2*amxTileElems)
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

// amxScratch is the per-worker scratch of one call, in floats: group
// packed panels of wplanes planes (32 rows × cols bf16 each), one 32×32
// float32 tile for partial tiles, and for F16/F32 weights the 32 rows split
// into three row-major bf16 planes plus one widened row.
func amxScratch(cols, group, wplanes int) int {
	return group*wplanes*gemmRows*cols/2 + amxTokens*gemmRows + 3*gemmRows*cols/2 + cols
}

// Run handles panel groups [lo, hi): it packs a group's panels, then runs
// every 32-token tile against each of them.
func (t *amxTask) Run(worker, lo, hi int) {
	cols, rows, n := t.w.Cols, t.w.Rows, t.n
	wplanes := amxWeightPlanes(t.w.DType)
	planeLen := gemmRows * cols / 2 // one packed panel plane, in floats
	panelLen := wplanes * planeLen
	panels := (rows + gemmRows - 1) / gemmRows
	scratch := t.cpu.scratch[worker]
	rest := scratch[t.group*panelLen:]
	tile, rest := rest[:amxTokens*gemmRows], rest[amxTokens*gemmRows:]
	split, widened := rest[:3*planeLen], rest[3*planeLen:3*planeLen+cols]
	cfg := &t.cpu.amxConfig
	kernel := amxKernels[wplanes]
	for g := lo; g < hi; g++ {
		p0, p1 := g*t.group, min((g+1)*t.group, panels)
		for p := p0; p < p1; p++ {
			t.packPanel(scratch[(p-p0)*panelLen:(p-p0+1)*panelLen], p*gemmRows, split, widened)
		}
		for tok := 0; tok < n; tok += amxTokens {
			a := unsafe.Pointer(&t.planes[tok/amxTokens*(cols/32)*amxTileElems])
			for p := p0; p < p1; p++ {
				r0 := p * gemmRows
				nr := min(gemmRows, rows-r0)
				panel := unsafe.Pointer(&scratch[(p-p0)*panelLen])
				if tok+amxTokens <= n && nr == gemmRows {
					kernel(&cfg[0], a, panel, 4*planeLen, cols/32, &t.out[tok*rows+r0], 4*rows)
					continue
				}
				kernel(&cfg[0], a, panel, 4*planeLen, cols/32, &tile[0], 4*gemmRows)
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

// packPanel packs rows r0 … r0+31 of the weights into panel, one pair-
// layout plane after another. BF16 rows are their own single plane; F16 and
// F32 rows are widened and split into bf16 planes first (split: 3 row-major
// planes of 32 rows; widened: one row).
func (t *amxTask) packPanel(panel []float32, r0 int, split, widened []float32) {
	w := t.w
	cols := w.Cols
	nr := min(gemmRows, w.Rows-r0)
	planeLen := gemmRows * cols / 2
	if w.DType == BF16 {
		// A bf16 pair is one 32-bit element: pack pairs as float32s.
		packRows(panel, F32, w.Data[r0*cols*2:], cols/2, nr, cols/2)
		return
	}
	splitBytes := unsafe.Slice((*byte)(unsafe.Pointer(&split[0])), 4*len(split))
	for r := range nr {
		row := widened
		if w.DType == F32 {
			row = f32s(w.Data)[(r0+r)*cols : (r0+r+1)*cols]
		} else {
			WidenRow(row, w, r0+r)
		}
		splitBF16x3(unsafe.Pointer(&split[r*cols/2]), &row[0], cols/32, 4*planeLen, 64)
	}
	for wp := range amxWeightPlanes(w.DType) {
		packRows(panel[wp*planeLen:], F32, splitBytes[4*wp*planeLen:], cols/2, nr, cols/2)
	}
}

var amxKernels = [4]func(cfg *byte, a, b unsafe.Pointer, bplane, kblocks int, c *float32, ldc int){
	nil, amxTile1, amxTile2, amxTile3,
}

// matMulAMX is MatMul for n ≥ amxMinTokens tokens on AMX.
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
	c.ensureScratch(amxScratch(cols, group, amxWeightPlanes(w.DType)))
	t := &c.amx
	t.out, t.n, t.w, t.bias, t.planes, t.group = out[:n*w.Rows], n, w, bias, planes, group
	c.pool.Parallel((panels+group-1)/group, 1, t)
	t.out, t.bias, t.planes = nil, nil, nil
	t.w = Matrix{}
}
