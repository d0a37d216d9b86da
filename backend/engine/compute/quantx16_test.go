package compute

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// x16Shapes are the matrices the x16 tests repack: rows that are not a
// multiple of 16 (a partial last panel), one panel, several units.
var x16Shapes = [][2]int{{37, 512}, {16, 256}, {5, 768}, {64, 4608}}

// unpackX16Row decodes row r of x to float32 values (len the matrix's
// columns) through the readers the prefill panels use (q4_0Block,
// kUnitsX16), as ggml's dequantization computes them.
func unpackX16Row(dst []float32, x *x16Weights, dt DType, r int) {
	p, lane := r/x16Rows, r%x16Rows
	if dt == Q8_0 {
		w := Matrix{DType: Q8_0, x16: x}
		var vals [32]byte
		for b := range len(dst) / 32 {
			d := F16ToF32(binary.LittleEndian.Uint16(q8_0Block(w, nil, p*x16Rows, lane, b, &vals)))
			for i, q := range vals {
				dst[32*b+i] = float32(int8(q^0x80)) * d
			}
		}
		return
	}
	if dt == Q4_0 {
		w := Matrix{DType: Q4_0, x16: x}
		var scratch [16]byte
		for b := range len(dst) / 32 {
			qs, dBytes := q4_0Block(w, nil, p*x16Rows, lane, b, &scratch)
			d := F16ToF32(binary.LittleEndian.Uint16(dBytes))
			for i, q := range qs {
				dst[32*b+i] = float32(int(q&0xF)-8) * d
				dst[32*b+16+i] = float32(int(q>>4)-8) * d
			}
		}
		return
	}
	offset := 0 // Q6_K's values are stored +32
	if dt == Q6_K {
		offset = 32
	}
	var q [256]byte
	var slo, shi, mins [8]float32
	for u := range x.units {
		kUnitsX16(dt, x.unit(p, u), lane, &q, &slo, &shi, &mins)
		for i, v := range q {
			scale := slo[i/32]
			if i%32 >= 16 {
				scale = shi[i/32]
			}
			// Q4_K/Q5_K: d·sc·q − dmin·m, each product rounded on its own as
			// ggml's; Q6_K: d·sc·(q−32), with no min to add (adding 0 would
			// turn ggml's −0 into +0)
			y := float32(scale * float32(int(v)-offset))
			if dt != Q6_K {
				y += mins[i/32]
			}
			dst[256*u+i] = y
		}
	}
}

// TestX16PackingKeepsTheValues decodes every row of repacked matrices and
// requires the values ggml's dequantization gives for the stored rows, bit
// for bit: the layout loses nothing and puts every value in its place.
func TestX16PackingKeepsTheValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		for _, shape := range x16Shapes {
			rows, cols := shape[0], shape[1]
			data, err := Quantize(dt, randF32(rng, rows*cols), cols)
			if err != nil {
				t.Fatal(err)
			}
			w := Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
			if !x16Packable(w) {
				t.Fatalf("%s %d×%d: not packable", dt, rows, cols)
			}
			x, _ := newX16(w, make([]byte, x16Bytes(w)))
			for p := range (rows + x16Rows - 1) / x16Rows {
				packX16Panel(x, w, p)
			}
			rb := dt.RowBytes(cols)
			got, want := make([]float32, cols), make([]float32, cols)
			for r := range rows {
				unpackX16Row(got, x, dt, r)
				if err := DequantizeRow(want, dt, data[r*rb:(r+1)*rb]); err != nil {
					t.Fatal(err)
				}
				for c := range cols {
					if math.Float32bits(got[c]) != math.Float32bits(want[c]) {
						t.Fatalf("%s %d×%d row %d value %d: repacked %g, stored %g", dt, rows, cols, r, c, got[c], want[c])
					}
				}
			}
		}
	}
}

// TestX16KernelsMatchGeneric runs products of 1, 2, 3 and 5 tokens (the
// x16 kernels) and of 19 (the prefill panels, packed from the x16 copy)
// through repacked weights and checks every result against the portable
// kernel on the stored rows with the same quantized activations: the
// integer parts are exact, so only the float summation order may differ
// (tolerance 1e-6·Σ|w·x| of the dequantized weights). A bias is added,
// and an activation outlier and a zero row test the offsets and scales.
func TestX16KernelsMatchGeneric(t *testing.T) {
	if !hasX16Kernels() {
		t.Skip("no x16 kernels on this CPU or build (decode reads the stored rows; TestQuantKernelsMatchGeneric covers that)")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		for _, shape := range x16Shapes {
			rows, cols := shape[0], shape[1]
			vals := randF32(rng, rows*cols)
			clear(vals[cols : 2*cols]) // row 1 all zero
			data, err := Quantize(dt, vals, cols)
			if err != nil {
				t.Fatal(err)
			}
			w := Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
			if got := cpu.PackWeights([]*Matrix{&w}); got < int64(len(data)) || w.x16 == nil {
				t.Fatalf("%s %d×%d: PackWeights allocated %d bytes for %d stored", dt, rows, cols, got, len(data))
			}
			deq := ToF32(w)
			rb := dt.RowBytes(cols)
			for _, n := range []int{1, 2, 3, 5, 19} {
				x, bias := randF32(rng, n*cols), randF32(rng, rows)
				x[7] = 30
				out := make([]float32, n*rows)
				cpu.MatMul(out, x, n, w, bias)
				var a qact
				a.quantize(x, n, cols, actBlock(dt))
				for tok := range n {
					for r := range rows {
						want := float64(dotQuantGeneric(dt, data[r*rb:(r+1)*rb], a.row(tok))) + float64(bias[r])
						var scale float64
						for c := range cols {
							scale += math.Abs(float64(deq[r*cols+c]) * float64(x[tok*cols+c]))
						}
						got := float64(out[tok*rows+r])
						if d := math.Abs(got - want); d > 1e-6*scale+1e-6 || math.IsNaN(got) {
							t.Fatalf("%s %d×%d, %d tokens: token %d row %d: %g, want %g (Σ|w·x| %g)", dt, rows, cols, n, tok, r, got, want, scale)
						}
					}
				}
			}
		}
	}
}

// TestPrefillPanelsFromX16 packs the prefill panels (quantpanel.go,
// quantpanelk.go) of repacked matrices from their x16 panels and requires
// the very bytes packed from the stored rows: prefill reads the repacked
// copy, never the mapped file, and computes the same products.
func TestPrefillPanelsFromX16(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		rows, cols := 37, 512
		data, err := Quantize(dt, randF32(rng, rows*cols), cols)
		if err != nil {
			t.Fatal(err)
		}
		stored := Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
		packed := stored
		packed.x16, _ = newX16(stored, make([]byte, x16Bytes(stored)))
		for p := range (rows + x16Rows - 1) / x16Rows {
			packX16Panel(packed.x16, stored, p)
		}
		for r0 := 0; r0 < rows; r0 += panelRows {
			var want, got []byte
			if dt == Q8_0 || dt == Q4_0 {
				want, got = make([]byte, cols/32*panelBlockBytes), make([]byte, cols/32*panelBlockBytes)
				packPanelQ(want, stored, r0)
				packPanelQ(got, packed, r0)
			} else {
				want, got = make([]byte, cols/32*panelUnitBytesK), make([]byte, cols/32*panelUnitBytesK)
				packPanelK(want, stored, r0)
				packPanelK(got, packed, r0)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s rows %d…: the panel packed from x16 differs from the one packed from the stored rows", dt, r0)
			}
		}
	}
}
