package metaltest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"energyprofiler/backend/engine/metal"
)

// dequantizeRow decodes one row block by block, following the loops of
// ggml-quants.c's dequantize_row_q8_0/q4_0/q4_K/q5_K/q6_K: written apart
// from the per-element decoders (and kernels.metal's load_w) it checks.
func dequantizeRow(typ string, src []byte, n int) []float64 {
	y := make([]float64, 0, n)
	h := func(b []byte) float64 { return float64(f16Elem(view(b), 0)) }
	switch typ {
	case "Q8_0":
		for ; len(src) > 0; src = src[34:] {
			for _, q := range src[2:34] {
				y = append(y, h(src)*float64(int8(q)))
			}
		}
	case "Q4_0":
		for ; len(src) > 0; src = src[18:] {
			lo, hi := make([]float64, 16), make([]float64, 16)
			for j, q := range src[2:18] {
				lo[j], hi[j] = h(src)*float64(int(q&15)-8), h(src)*float64(int(q>>4)-8)
			}
			y = append(append(y, lo...), hi...)
		}
	case "Q4_K", "Q5_K":
		size := map[string]int{"Q4_K": 144, "Q5_K": 176}[typ]
		for ; len(src) > 0; src = src[size:] {
			d, dmin, scales := h(src), h(src[2:]), src[4:16]
			qh, qs := src[16:48], src[16:144]
			if typ == "Q5_K" {
				qs = src[48:176]
			}
			u1, u2 := byte(1), byte(2)
			is := 0
			for j := 0; j < 256; j += 64 {
				sc, m := scaleMinK4(is, scales)
				d1, m1 := d*float64(sc), dmin*float64(m)
				sc, m = scaleMinK4(is+1, scales)
				d2, m2 := d*float64(sc), dmin*float64(m)
				for l := 0; l < 32; l++ {
					q := int(qs[l] & 0xF)
					if typ == "Q5_K" && qh[l]&u1 != 0 {
						q += 16
					}
					y = append(y, d1*float64(q)-m1)
				}
				for l := 0; l < 32; l++ {
					q := int(qs[l] >> 4)
					if typ == "Q5_K" && qh[l]&u2 != 0 {
						q += 16
					}
					y = append(y, d2*float64(q)-m2)
				}
				qs = qs[32:]
				is += 2
				u1 <<= 2
				u2 <<= 2
			}
		}
	case "Q6_K":
		for ; len(src) > 0; src = src[210:] {
			d := h(src[208:])
			ql, qh, sc := src[0:128], src[128:192], src[192:208]
			out := make([]float64, 256)
			for n := 0; n < 256; n += 128 {
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
					q2 := int(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
					q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
					q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
					out[n+l] = d * float64(int8(sc[is])) * float64(q1)
					out[n+l+32] = d * float64(int8(sc[is+2])) * float64(q2)
					out[n+l+64] = d * float64(int8(sc[is+4])) * float64(q3)
					out[n+l+96] = d * float64(int8(sc[is+6])) * float64(q4)
				}
				ql, qh, sc = ql[64:], qh[32:], sc[8:]
			}
			y = append(y, out...)
		}
	}
	return y
}

// TestQuantKernelSemantics: the block-type mat-vec and embedding kernels
// decode every element as ggml does.
func TestQuantKernelSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := New()
	if err := f.Compile(metal.Source, metal.Kernels[:]); err != nil {
		t.Fatal(err)
	}
	for typ, q := range metal.QuantTypes {
		rows, cols, n := 6, 2*q.Values, 3
		w := metal.RandomBlocks(rng, typ, rows*cols/q.Values)
		wid, off, err := f.WrapBuffer(w)
		if err != nil {
			t.Fatal(err)
		}
		xid, xmem, _ := f.NewBuffer(4 * n * cols)
		x := make([]float64, n*cols)
		for i := range x {
			v := float32(rng.NormFloat64())
			x[i] = float64(v)
			binary.LittleEndian.PutUint32(xmem[4*i:], math.Float32bits(v))
		}
		oid, omem, _ := f.NewBuffer(4 * n * rows)
		args, _ := binary.Append(nil, binary.LittleEndian, metal.MulMVArgs{Rows: uint32(rows), Cols: uint32(cols), N: uint32(n)})
		d := metal.Dispatch{Kernel: int(q.MulMV), Args: args, Buffers: []metal.Binding{{Buf: wid, Off: off}, {Buf: xid}, {Buf: oid}, {Buf: oid}},
			Groups: [3]int{2, 1, 1}, Threads: [3]int{metal.MVRows * metal.SIMDWidth, 1, 1}}
		if _, err := f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{d}}}}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		rowBytes := cols / q.Values * q.Bytes
		var worst float64
		deq := make([][]float64, rows)
		for r := range rows {
			deq[r] = dequantizeRow(typ, w[r*rowBytes:(r+1)*rowBytes], cols)
			for tk := range n {
				var want, scale float64
				for c := range cols {
					want += deq[r][c] * x[tk*cols+c]
					scale += math.Abs(deq[r][c] * x[tk*cols+c])
				}
				got := float64(view(omem).f32(tk*rows + r))
				worst = max(worst, math.Abs(got-want)/scale) // float32 sums: ~1e-7 of Σ|w·x|
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s mat-vec: relative error %.3g", typ, worst)
		}

		// Embedding rows 4 and 1.
		iid, imem, _ := f.NewBuffer(8)
		binary.LittleEndian.PutUint32(imem, 4)
		binary.LittleEndian.PutUint32(imem[4:], 1)
		eid, emem, _ := f.NewBuffer(4 * 2 * cols)
		args, _ = binary.Append(nil, binary.LittleEndian, metal.EmbedArgs{Cols: uint32(cols), N: 2})
		d = metal.Dispatch{Kernel: int(q.Embed), Args: args, Buffers: []metal.Binding{{Buf: wid, Off: off}, {Buf: iid}, {Buf: eid}},
			Groups: [3]int{(cols + 255) / 256, 2, 1}, Threads: [3]int{256, 1, 1}}
		if _, err := f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{d}}}}); err != nil {
			t.Fatalf("%s embed: %v", typ, err)
		}
		for k, r := range []int{4, 1} {
			for c := range cols {
				if got := float64(view(emem).f32(k*cols + c)); math.Abs(got-deq[r][c]) > 1e-6*(1+math.Abs(deq[r][c])) {
					t.Fatalf("%s embed row %d col %d: %g, want %g", typ, r, c, got, deq[r][c])
				}
			}
		}
	}
}
