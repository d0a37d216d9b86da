package compute

import "encoding/binary"

// Decode weights repacked at load ("x16"), as llama.cpp's CPU_REPACK
// buffers do for Q4_0: 16 rows are interleaved per block so that each
// vector lane is a row and holds 4 consecutive weights. A VPDPBUSD against
// 4 activations broadcast from memory then makes 64 products for 16 rows,
// and the block's scales are unpacked once per 16 rows instead of once per
// row. The row-by-row kernels (quantdot_vnni_amd64.s) spend about five
// vector instructions per 32 weights on unpacking and horizontal sums;
// these spend about one, so 4-bit decode runs at memory speed instead of
// being bound by the core. Q8_0 needs no unpacking, but its row kernel
// still made about three instructions per 32 weights and one horizontal
// sum per row: 33 GB/s per core from cache, less than a core's share of
// the host's bandwidth in its high-bandwidth episodes (README).
//
// The layouts keep the stored precision (4- and 6-bit values, 8-bit
// sub-block scales and mins, fp16 block scales), so a panel is as large as
// its 16 rows were (Q6_K: +1 %, padding to whole cache lines). Every
// vector of a block starts on a 64-byte boundary. Within a panel, block b
// of all 16 rows is one unit:
//
//	Q4_0 (unit: 2 blocks, 64 values; 576 bytes)
//	  [0, 512)    block k, vector v at 256k+64v: lane r = row r's stored
//	              bytes 4v…4v+3 of block k (low nibbles: values 4v+t, high
//	              nibbles: values 16+4v+t)
//	  [512, 576)  block k's 16 fp16 scales d at 512+32k
//
//	Q8_0 (unit: 2 blocks, 64 values; 1088 bytes)
//	  [0, 1024)     block k, vector v at 512k+64v: lane r = row r's values
//	                4v…4v+3 of block k, +128 (the unsigned bytes VPDPBUSD
//	                multiplies; the activations' -128·Σq undoes the shift)
//	  [1024, 1088)  block k's 16 fp16 scales d at 1024+32k
//
//	Q4_K (unit: one 256-value block; 2368 bytes)
//	  [0, 2048)     sub-block j, vector v at 256j+64v: lane r byte t = value
//	                32j+4v+t in the low nibble, 32j+16+4v+t in the high one
//	  [2048, 2176)  sub-block j's 16 six-bit scales at 2048+16j
//	  [2176, 2304)  mins, pairs of sub-blocks: row r's (m_2k, m_2k+1) at
//	                2176+32k+2r (one int16 pair per lane once widened)
//	  [2304, 2368)  16 fp16 d, then 16 fp16 dmin
//
//	Q5_K (unit: one 256-value block; 2880 bytes)
//	  [0, 2560)     sub-block j at 320j: its fifth bits (lane r byte t
//	                bit s = of value 32j+4s+t, bit 4+s = of 32j+16+4s+t),
//	                then its low 4 bits as Q4_K's nibbles (vector v at
//	                320j+64+64v): the order the kernel reads them in. One
//	                stream: with the fifth bits in a region of their own,
//	                decode read half as fast from DRAM; with them after the
//	                nibbles but read first, decode's Q5_K mat-vecs read 0.83
//	                of the bandwidth (0.75 in the high-bandwidth episodes),
//	                in this order 0.97 (0.88).
//	  [2560, 2880)  scales, mins, d and dmin as Q4_K's (512 bytes later)
//
//	Q6_K (unit: one 256-value block; 3392 bytes)
//	  [0, 3328)     4 groups of 64 values, 832 bytes each: the int8 scales
//	                of its 4 sub-blocks of 16 values, 16 rows each
//	                (q6Scales); then for each of its two runs u of 32 values
//	                their high 2 bits (q6High, vector h: lane r byte t bits
//	                2s…2s+1 = of value 32u+16h+4s+t) and their low 4 bits as
//	                Q4_K's nibbles (q6Nibbles)
//	  [3328, 3360)  16 fp16 d; 32 bytes of padding
//
//	The kernel reads a Q6_K unit strictly front to back. With the scales
//	after the nibbles and the high bits of both runs between them (read
//	back and forth within each 832 bytes), the hardware prefetchers lost
//	the streams: decode's Q6_K mat-vecs read 0.72–0.87 of the bandwidth
//	even with software prefetches, and 1.02 (usual host state) and 0.93
//	(high-bandwidth episodes) in this order, with none.
//
// Rows past the matrix's last are zero (their scales are 0), and the
// kernels' results for them are dropped.
const (
	x16Rows       = 16
	x16UnitQ8_0   = 1088
	x16UnitQ4_0   = 576
	x16UnitQ4_K   = 2368
	x16UnitQ5_K   = 2880
	x16UnitQ6_K   = 3392
	x16ValuesQ4_0 = 64 // Q8_0's too
	x16ValuesK    = 256
)

// Where a Q6_K unit keeps sub-block g's scales, vector h of run u's high
// bits and vector v of its nibbles.
func q6Scales(g int) int     { return 832*(g/4) + 16*(g%4) }
func q6High(u, h int) int    { return 832*(u/2) + 64 + 384*(u%2) + 64*h }
func q6Nibbles(u, v int) int { return q6High(u, 0) + 128 + 64*v }

// x16Weights is a matrix repacked for the x16 kernels.
type x16Weights struct {
	data      []byte // panels × units × unitBytes
	units     int    // per panel
	unitBytes int
}

// sameX16Layout reports whether two repacked matrices have panels of the
// same units, so that one kernel call can stream a run of each.
func sameX16Layout(a, b *x16Weights) bool {
	return a.units == b.units && a.unitBytes == b.unitBytes
}

// x16Layout gives the unit size in values and bytes of dt's x16 layout,
// or ok false when dt has none.
func x16Layout(dt DType) (values, bytes int, ok bool) {
	switch dt {
	case Q8_0:
		return x16ValuesQ4_0, x16UnitQ8_0, true
	case Q4_0:
		return x16ValuesQ4_0, x16UnitQ4_0, true
	case Q4_K:
		return x16ValuesK, x16UnitQ4_K, true
	case Q5_K:
		return x16ValuesK, x16UnitQ5_K, true
	case Q6_K:
		return x16ValuesK, x16UnitQ6_K, true
	}
	return 0, 0, false
}

// x16Packable reports whether w can be repacked: a type with a layout and
// rows of whole units.
func x16Packable(w Matrix) bool {
	values, _, ok := x16Layout(w.DType)
	return ok && w.Rows > 0 && w.Cols > 0 && w.Cols%values == 0 && len(w.Data) == w.Rows*w.DType.RowBytes(w.Cols)
}

// Repacked reports whether PackWeights gave m a layout of its own (then
// the backend reads Data only for embedding rows and on CPUs whose prefill
// takes other kernels, e.g. AMX).
func (m Matrix) Repacked() bool { return m.x16 != nil }

// newX16 lays out the repacked form of w (x16Packable) at the start of
// arena and returns the rest of arena.
func newX16(w Matrix, arena []byte) (*x16Weights, []byte) {
	n := x16Bytes(w)
	values, unitBytes, _ := x16Layout(w.DType)
	return &x16Weights{data: arena[:n:n], units: w.Cols / values, unitBytes: unitBytes}, arena[min(len(arena), x16Stride(n)):]
}

// x16Bytes is the size of w's repacked form.
func x16Bytes(w Matrix) int {
	values, unitBytes, _ := x16Layout(w.DType)
	return (w.Rows + x16Rows - 1) / x16Rows * (w.Cols / values) * unitBytes
}

// x16Stride is how far apart matrices of n bytes lie in an arena: whole
// pages, so that each starts on one.
func x16Stride(n int) int { return (n + 4095) &^ 4095 }

// panel is panel p's bytes.
func (x *x16Weights) panel(p int) []byte {
	n := x.units * x.unitBytes
	return x.data[p*n : (p+1)*n]
}

// unit is unit u of panel p.
func (x *x16Weights) unit(p, u int) []byte {
	panel := x.panel(p)
	return panel[u*x.unitBytes : (u+1)*x.unitBytes]
}

// kUnitsX16 is kUnits for lane r of a repacked K-quant unit: the same
// values, scales and mins, so prefill panels packed from it are the same
// bytes as packed from the stored rows.
func kUnitsX16(dt DType, unit []byte, r int, q *[256]byte, slo, shi, mins *[8]float32) {
	half := func(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }
	switch dt {
	case Q4_K, Q5_K:
		nib, sc, mn, dd := 0, 2048, 2176, 2304 // where Q4_K's parts start
		stride, high := 256, -1
		if dt == Q5_K {
			nib, stride, high, sc, mn, dd = 64, 320, 0, 2560, 2688, 2816
		}
		d, dmin := half(unit[dd+2*r:]), half(unit[dd+32+2*r:])
		for j := range 8 {
			for v := range 4 {
				for t := range 4 {
					b := unit[nib+stride*j+64*v+4*r+t]
					lo, hi := b&0xF, b>>4
					if high >= 0 {
						h := unit[stride*j+high+4*r+t]
						lo |= (h >> v & 1) << 4
						hi |= (h >> (4 + v) & 1) << 4
					}
					q[32*j+4*v+t], q[32*j+16+4*v+t] = lo, hi
				}
			}
			slo[j] = d * float32(unit[sc+16*j+r])
			shi[j] = slo[j]
			mins[j] = -(dmin * float32(unit[mn+32*(j/2)+2*r+j%2]))
		}
	case Q6_K:
		d := half(unit[3328+2*r:])
		for u := range 8 {
			for v := range 4 {
				for t := range 4 {
					b := unit[q6Nibbles(u, v)+4*r+t]
					h0 := unit[q6High(u, 0)+4*r+t] >> (2 * v) & 3
					h1 := unit[q6High(u, 1)+4*r+t] >> (2 * v) & 3
					q[32*u+4*v+t], q[32*u+16+4*v+t] = b&0xF|h0<<4, b>>4|h1<<4
				}
			}
			slo[u] = d * float32(int8(unit[q6Scales(2*u)+r]))
			shi[u] = d * float32(int8(unit[q6Scales(2*u+1)+r]))
			mins[u] = 0
		}
	}
}

// packX16Panel packs rows 16p … 16p+15 of w into x's panel p.
func packX16Panel(x *x16Weights, w Matrix, p int) {
	rb := w.DType.RowBytes(w.Cols)
	dst := x.panel(p)
	for r := range min(x16Rows, w.Rows-p*x16Rows) {
		row := w.Data[(p*x16Rows+r)*rb : (p*x16Rows+r+1)*rb]
		for u := range x.units {
			unit := dst[u*x.unitBytes : (u+1)*x.unitBytes]
			switch w.DType {
			case Q8_0:
				packX16Q8_0(unit, row[68*u:68*u+68], r)
			case Q4_0:
				packX16Q4_0(unit, row[36*u:36*u+36], r)
			case Q4_K:
				packX16Q4K(unit, row[144*u:144*u+144], r)
			case Q5_K:
				packX16Q5K(unit, row[176*u:176*u+176], r)
			case Q6_K:
				packX16Q6K(unit, row[210*u:210*u+210], r)
			}
		}
	}
}

// packX16Q8_0 places row r's two Q8_0 blocks (68 bytes) in a unit.
func packX16Q8_0(unit, blocks []byte, r int) {
	for k := range 2 {
		blk := blocks[34*k : 34*k+34]
		for v := range 8 {
			for t := range 4 {
				unit[512*k+64*v+4*r+t] = blk[2+4*v+t] ^ 0x80
			}
		}
		copy(unit[1024+32*k+2*r:], blk[0:2])
	}
}

// packX16Q4_0 places row r's two Q4_0 blocks (36 bytes) in a unit.
func packX16Q4_0(unit, blocks []byte, r int) {
	for k := range 2 {
		blk := blocks[18*k : 18*k+18]
		for v := range 4 {
			copy(unit[256*k+64*v+4*r:], blk[2+4*v:2+4*v+4])
		}
		copy(unit[512+32*k+2*r:], blk[0:2])
	}
}

// packX16Q4K places row r's Q4_K block (144 bytes) in a unit.
func packX16Q4K(unit, blk []byte, r int) {
	var q [256]byte
	kValues(Q4_K, blk, &q)
	for j := range 8 {
		run, sub := q[32*j:32*j+32], unit[256*j:256*j+256]
		for v := range 4 {
			for t := range 4 {
				sub[64*v+4*r+t] = run[4*v+t] | run[16+4*v+t]<<4
			}
		}
		sc, m := kScaleMin(j, blk[4:16])
		unit[2048+16*j+r] = sc
		unit[2176+32*(j/2)+2*r+j%2] = m
	}
	copy(unit[2304+2*r:], blk[0:2])
	copy(unit[2336+2*r:], blk[2:4])
}

// packX16Q5K places row r's Q5_K block (176 bytes) in a unit.
func packX16Q5K(unit, blk []byte, r int) {
	var q [256]byte
	kValues(Q5_K, blk, &q)
	for j := range 8 {
		run, sub := q[32*j:32*j+32], unit[320*j:320*j+320]
		for t := range 4 {
			var h byte
			for v := range 4 {
				lo, hi := run[4*v+t], run[16+4*v+t]
				sub[64+64*v+4*r+t] = lo&0xF | (hi&0xF)<<4
				h |= (lo>>4)<<v | (hi>>4)<<(4+v)
			}
			sub[4*r+t] = h
		}
		sc, m := kScaleMin(j, blk[4:16])
		unit[2560+16*j+r] = sc
		unit[2688+32*(j/2)+2*r+j%2] = m
	}
	copy(unit[2816+2*r:], blk[0:2])
	copy(unit[2848+2*r:], blk[2:4])
}

// packX16Q6K places row r's Q6_K block (210 bytes) in a unit.
func packX16Q6K(unit, blk []byte, r int) {
	var q [256]byte
	kValues(Q6_K, blk, &q)
	for u := range 8 {
		run := q[32*u : 32*u+32]
		nib, high0, high1 := unit[q6Nibbles(u, 0):], unit[q6High(u, 0):], unit[q6High(u, 1):]
		for t := range 4 {
			var h0, h1 byte
			for v := range 4 {
				lo, hi := run[4*v+t], run[16+4*v+t]
				nib[64*v+4*r+t] = lo&0xF | (hi&0xF)<<4
				h0 |= (lo >> 4) << (2 * v)
				h1 |= (hi >> 4) << (2 * v)
			}
			high0[4*r+t], high1[4*r+t] = h0, h1
		}
	}
	for g := range 16 {
		unit[q6Scales(g)+r] = blk[192+g]
	}
	copy(unit[3328+2*r:], blk[208:210])
}

// x16PackTask packs the panels of one matrix, a panel per item.
type x16PackTask struct {
	x *x16Weights
	w Matrix
}

func (t *x16PackTask) Run(_, lo, hi int) {
	for p := lo; p < hi; p++ {
		packX16Panel(t.x, t.w, p)
	}
}

// PackWeights repacks, in place, the matrices the x16 decode kernels can
// read (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) on CPUs that have them, and reports how many
// bytes it allocated; elsewhere it does nothing. The engine calls it once
// at load, so the cost lands in the model-load phase, not in decode.
// Decode, small batches and the prefill panels then read the repacked copy;
// the stored bytes (Data) stay valid for the paths that still read rows
// (embedding lookups, AMX prefill), so the engine may release their pages.
func (c *CPU) PackWeights(ws []*Matrix) int64 {
	if !hasX16Kernels() {
		return 0
	}
	need := 0
	for _, w := range ws {
		if w.x16 == nil && x16Packable(*w) {
			need += x16Stride(x16Bytes(*w))
		}
	}
	// One arena for them all, on huge pages where the OS gives them: decode
	// streams every byte of it once per token, and with 4 KiB pages a
	// page walk interrupts each stream every 4 KiB (measured: 4-bit decode
	// 2–13 % faster on huge pages).
	arena := hugePageBytes(need)
	var total int64
	for _, w := range ws {
		if w.x16 != nil || !x16Packable(*w) {
			continue
		}
		var x *x16Weights
		x, arena = newX16(*w, arena)
		panels := (w.Rows + x16Rows - 1) / x16Rows
		c.pool.Parallel(panels, max(1, panels/(8*c.pool.Workers())), &x16PackTask{x: x, w: *w})
		w.x16 = x
		total += int64(len(x.data))
	}
	c.packedBytes += total
	return total
}

// x16Task multiplies the panels of a repacked matrix by every token's
// activations. Its items are slots: slot i is panel i and panel i+half,
// which one kernel call reads side by side (two streams per core, see
// quantx16_vnni_amd64.s), so a run of slots continues both streams.
//
// Each worker quantizes the activations itself (workerAct).
type x16Task struct {
	x    []float32 // n × w.Cols
	out  []float32
	n    int
	w    Matrix
	bias []float32
	half int         // slots: (panels+1)/2
	gen  uint64      // which call this is, for the workers' quantized copies
	acts []workerAct // one per worker
}

func (t *x16Task) Run(worker, lo, hi int) {
	wa := &t.acts[worker]
	wa.quantize(t.gen, t.x, t.n, t.w)
	rows := t.w.Rows
	panels := (rows + x16Rows - 1) / x16Rows
	full := rows / x16Rows // panels whose 16 rows all exist
	aLo, aHi := lo, hi
	bLo, bHi := lo+t.half, min(hi+t.half, panels)
	// Both panels of a pair are whole; what is left (the panel of an odd
	// count, the last one when rows is not a multiple of 16) goes alone.
	pairs := max(0, min(aHi-aLo, min(bHi, full)-bLo))
	per := len(wa.negs) / t.n
	for tok := range t.n {
		a := wa.act.row(tok)
		negs := wa.negs[tok*per : (tok+1)*per]
		out := t.out[tok*rows : (tok+1)*rows]
		if pairs > 0 {
			x16Kernel(t.w.DType, t.w.x16, t.w.x16, aLo, bLo, pairs, a, negs, out[aLo*x16Rows:], out[bLo*x16Rows:])
		}
		t.alone(a, negs, out, aLo+pairs, aHi)
		t.alone(a, negs, out, bLo+pairs, bHi)
		if t.bias != nil {
			addBias(out, t.bias, aLo*x16Rows, min(rows, aHi*x16Rows))
			addBias(out, t.bias, bLo*x16Rows, min(rows, bHi*x16Rows))
		}
	}
}

// pairsWith reports whether runPaired can compute all of t's and u's
// panels side by side: one token, one type and panel layout, the same
// whole panels.
func (t *x16Task) pairsWith(u *x16Task) bool {
	return t.pairsWithLayout(u) && t.w.Rows == u.w.Rows && t.w.Rows%x16Rows == 0
}

// pairsWithLayout reports whether one kernel call can read a run of t's
// panels beside a run of u's: one token, one type and panel layout.
func (t *x16Task) pairsWithLayout(u *x16Task) bool {
	return t.n == 1 && u.n == 1 && t.w.DType == u.w.DType && sameX16Layout(t.w.x16, u.w.x16)
}

// addBias adds the bias to the rows of panels [p, p+n), if t has one.
func (t *x16Task) addBias(p, n int) {
	if t.bias != nil {
		addBias(t.out, t.bias, p*x16Rows, min(t.w.Rows, (p+n)*x16Rows))
	}
}

// runPaired computes panels [pa, pa+n) of t and [pb, pb+n) of u (u may be
// t; see pairsWithLayout) with their biases, as the kernel's two streams,
// so a worker reads one run of each.
func (t *x16Task) runPaired(worker int, u *x16Task, pa, pb, n int) {
	wa := &t.acts[worker]
	wa.quantize(t.gen, t.x, 1, t.w)
	x16Kernel(t.w.DType, t.w.x16, u.w.x16, pa, pb, n, wa.act.row(0), wa.negs, t.out[pa*x16Rows:], u.out[pb*x16Rows:])
	t.addBias(pa, n)
	u.addBias(pb, n)
}

// alone runs panels [p0, p1) one at a time, each read as both streams of
// a pair, and keeps the results of the rows that exist.
func (t *x16Task) alone(a actRow, negs []int32, out []float32, p0, p1 int) {
	for p := p0; p < p1; p++ {
		var res [2 * x16Rows]float32
		x16Kernel(t.w.DType, t.w.x16, t.w.x16, p, p, 1, a, negs, res[:x16Rows], res[x16Rows:])
		copy(out[p*x16Rows:min(len(out), (p+1)*x16Rows)], res[:x16Rows])
	}
}

func addBias(out, bias []float32, lo, hi int) {
	for r := lo; r < hi; r++ {
		out[r] += bias[r]
	}
}
