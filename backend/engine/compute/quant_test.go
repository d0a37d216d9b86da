package compute

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"energyprofiler/backend/model"
)

// The GGUF fixtures live with the model package's tests (one copy); see
// backend/model/testdata/gguf/README.md for their origin (llama.cpp's
// llama-quantize, gguf-py's dequantizer).
var ggufFixtureDir = filepath.Join("..", "..", "model", "testdata", "gguf")

// ggmlTypes maps the fixture's type names to compute's types.
var ggmlTypes = map[string]DType{"F32": F32, "F16": F16, "BF16": BF16, "Q8_0": Q8_0, "Q4_0": Q4_0, "Q4_K": Q4_K, "Q5_K": Q5_K, "Q6_K": Q6_K}

type dequantSample struct {
	Tensor     string  `json:"tensor"`
	Type       string  `json:"type"`
	Ne         []int   `json:"ne"`
	Offset     int64   `json:"gguf_data_offset"`
	NBytes     int     `json:"n_bytes"`
	Rows       int     `json:"rows_stored"`
	ValuesFile string  `json:"values_file"`
	Sha256     string  `json:"sha256_full_f32le"`
	Sum        float64 `json:"sum"`
}

// TestDequantizeFixtures decodes the sampled tensors of every fixture file
// and requires bit-exact equality with gguf-py's values (first rows) and
// with the sha256 of the whole tensor decoded to little-endian float32.
func TestDequantizeFixtures(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(ggufFixtureDir, "dequant", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index map[string][]dequantSample
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for file, samples := range index {
		g, raw, release, err := model.ReadGGUF(filepath.Join(ggufFixtureDir, "models", file))
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		for _, s := range samples {
			t.Run(file+"/"+s.Tensor, func(t *testing.T) {
				dt, ok := ggmlTypes[s.Type]
				if !ok {
					t.Fatalf("type %s", s.Type)
				}
				seen[s.Type] = true
				var info *model.GGUFTensorInfo
				for i := range g.Tensors {
					if g.Tensors[i].Name == s.Tensor {
						info = &g.Tensors[i]
					}
				}
				if info == nil || info.Type.String() != s.Type || g.DataStart+info.Offset != s.Offset {
					t.Fatalf("tensor %s not found as %s at %d", s.Tensor, s.Type, s.Offset)
				}
				src := g.Data(raw, *info)
				cols, rows := s.Ne[0], len(src)/dt.RowBytes(s.Ne[0])
				all := make([]float32, rows*cols)
				rb := dt.RowBytes(cols)
				for r := range rows {
					if err := DequantizeRow(all[r*cols:(r+1)*cols], dt, src[r*rb:(r+1)*rb]); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(filepath.Join(ggufFixtureDir, "dequant", s.ValuesFile))
				if err != nil {
					t.Fatal(err)
				}
				if len(want) != 4*s.Rows*cols {
					t.Fatalf("values file has %d bytes", len(want))
				}
				for i := range s.Rows * cols {
					if w := binary.LittleEndian.Uint32(want[4*i:]); math.Float32bits(all[i]) != w {
						t.Fatalf("value %d (row %d col %d) = %g (%08x), want %g (%08x)", i, i/cols, i%cols, all[i], math.Float32bits(all[i]), math.Float32frombits(w), w)
					}
				}
				buf := make([]byte, 4*len(all))
				for i, v := range all {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if sum := sha256.Sum256(buf); hex.EncodeToString(sum[:]) != s.Sha256 {
					t.Errorf("sha256 of the whole decoded tensor %x, want %s", sum, s.Sha256)
				}
			})
		}
	}
	for _, typ := range []string{"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"} {
		if !seen[typ] {
			t.Errorf("no fixture sample of %s was checked", typ)
		}
	}
}

// fixtureTensor decodes a whole tensor of a fixture file.
func fixtureTensor(t *testing.T, file, name string) (DType, []byte, []float32, int) {
	t.Helper()
	g, raw, release, err := model.ReadGGUF(filepath.Join(ggufFixtureDir, "models", file))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	for _, info := range g.Tensors {
		if info.Name != name {
			continue
		}
		dt := ggmlTypes[info.Type.String()]
		src := g.Data(raw, info)
		cols := int(info.Ne[0])
		vals := make([]float32, len(src)/dt.RowBytes(cols)*cols)
		for r := range len(vals) / cols {
			rb := dt.RowBytes(cols)
			if err := DequantizeRow(vals[r*cols:(r+1)*cols], dt, src[r*rb:(r+1)*rb]); err != nil {
				t.Fatal(err)
			}
		}
		return dt, src, vals, cols
	}
	t.Fatalf("%s has no tensor %s", file, name)
	return 0, nil, nil, 0
}

// TestQuantizeMatchesLlamaQuantize quantizes the float weights of the F16 /
// BF16 fixtures with the Go quantizer and compares block by block with what
// llama-quantize wrote for the same tensor. The inputs differ slightly (the
// quantized files were made from the float32 originals, which the F16/BF16
// files round), so a few blocks may legitimately differ; an error in the
// algorithm changes nearly all of them.
func TestQuantizeMatchesLlamaQuantize(t *testing.T) {
	tests := []struct {
		floatFile, quantFile, tensor string
		minSame                      float64
	}{
		// fx-qwen2 was bf16 to begin with: the BF16 file holds the exact
		// inputs llama-quantize saw, so every block must match.
		{"fx-qwen2-BF16.gguf", "fx-qwen2-Q5_K_M.gguf", "blk.0.ffn_gate.weight", 1},
		{"fx-qwen2-BF16.gguf", "fx-qwen2-Q5_K_M.gguf", "blk.0.attn_v.weight", 1}, // Q6_K
		// fx-llama was float32: its F16 file rounds the inputs (~5e-4
		// relative), which flips some roundings. A wrong algorithm (scale
		// search, min handling, packing) matches almost no block.
		{"fx-llama-F16.gguf", "fx-llama-Q8_0.gguf", "blk.0.ffn_gate.weight", 0.45},
		{"fx-llama-F16.gguf", "fx-llama-Q4_0.gguf", "blk.0.ffn_gate.weight", 0.95},
		{"fx-llama-F16.gguf", "fx-llama-Q4_K_M.gguf", "blk.0.ffn_gate.weight", 0.55},
		{"fx-llama-F16.gguf", "fx-llama-Q6_K.gguf", "blk.0.ffn_gate.weight", 0.35},
		// Re-quantizing decoded values: the level grid is already exact.
		{"fx-llama-Q8_0.gguf", "fx-llama-Q8_0.gguf", "blk.0.ffn_gate.weight", 1},
		{"fx-llama-Q4_0.gguf", "fx-llama-Q4_0.gguf", "blk.0.ffn_gate.weight", 1},
	}
	for _, tt := range tests {
		t.Run(tt.floatFile+"->"+tt.quantFile+"/"+tt.tensor, func(t *testing.T) {
			_, _, floats, cols := fixtureTensor(t, tt.floatFile, tt.tensor)
			dt, want, _, _ := fixtureTensor(t, tt.quantFile, tt.tensor)
			got, err := Quantize(dt, floats, cols)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d bytes, want %d", len(got), len(want))
			}
			_, bb := dt.blockLayout()
			same := 0
			for b := 0; b < len(want)/bb; b++ {
				if string(got[b*bb:(b+1)*bb]) == string(want[b*bb:(b+1)*bb]) {
					same++
				}
			}
			frac := float64(same) / float64(len(want)/bb)
			t.Logf("%s: %d of %d blocks byte-identical to llama-quantize (%.1f%%)", dt, same, len(want)/bb, 100*frac)
			if frac < tt.minSame {
				t.Errorf("only %.1f%% of blocks match llama-quantize, want ≥ %.0f%%", 100*frac, 100*tt.minSame)
			}
		})
	}
}

// TestQuantizeRoundTrip bounds the reconstruction error of each quantizer
// on Gaussian data by the bits it spends (relative RMS error).
func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randF32(rng, 4*512)
	for _, tt := range []struct {
		dt     DType
		maxRel float64
	}{{Q8_0, 0.01}, {Q4_0, 0.15}, {Q4_K, 0.12}, {Q5_K, 0.06}, {Q6_K, 0.03}} {
		q, err := Quantize(tt.dt, x, 512)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 512)
		var num, den float64
		for r := range 4 {
			rb := tt.dt.RowBytes(512)
			if err := DequantizeRow(y, tt.dt, q[r*rb:(r+1)*rb]); err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				d := float64(v - x[r*512+i])
				num += d * d
				den += float64(x[r*512+i]) * float64(x[r*512+i])
			}
		}
		if rel := math.Sqrt(num / den); rel > tt.maxRel || rel == 0 {
			t.Errorf("%s: relative RMS error %.4f, want (0, %g]", tt.dt, rel, tt.maxRel)
		}
	}
}

// TestQuantMatMul checks the fused kernels (decode n=1 and batched n>1, with
// a bias) against a float64 product of the dequantized weights. The
// activations are quantized to 8 bits, as in ggml, so the tolerance is a
// fraction of a percent of the product's scale, not float rounding.
func TestQuantMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		for _, n := range []int{1, 5} {
			rows, cols := 37, 512
			w, err := Quantize(dt, randF32(rng, rows*cols), cols)
			if err != nil {
				t.Fatal(err)
			}
			m := Matrix{DType: dt, Rows: rows, Cols: cols, Data: w}
			if err := m.Check(); err != nil {
				t.Fatal(err)
			}
			x, bias := randF32(rng, n*cols), randF32(rng, rows)
			out := make([]float32, n*rows)
			cpu.MatMul(out, x, n, m, bias)
			deq := ToF32(m)
			var worst float64
			for tok := range n {
				for r := range rows {
					var want, scale float64
					for c := range cols {
						p := float64(deq[r*cols+c]) * float64(x[tok*cols+c])
						want += p
						scale += math.Abs(p)
					}
					want += float64(bias[r])
					worst = max(worst, math.Abs(float64(out[tok*rows+r])-want)/scale)
				}
			}
			if worst > 0.01 || math.IsNaN(worst) {
				t.Errorf("%s n=%d: worst error %.4g of Σ|w·x|, want ≤ 1%%", dt, n, worst)
			}
		}
	}
}

// TestQuantKernelsMatchGeneric checks the dispatched kernels (SIMD where the
// build and CPU have them) against the portable ones on the same quantized
// activations: the integer parts are exact, so only float summation order
// may differ. Odd block counts exercise the tails.
func TestQuantKernelsMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		colsList := []int{256, 768, 1280, 4608} // 4608: several chunks of the K kernels
		if actBlock(dt) == 32 {
			colsList = append(colsList, 288, 4384) // odd block counts; 4384: past a chunk
		}
		for _, cols := range colsList {
			w, err := Quantize(dt, randF32(rng, cols), cols)
			if err != nil {
				t.Fatal(err)
			}
			x := randF32(rng, cols)
			x[3] = 40 // an outlier, as real activations have
			var a qact
			a.quantize(x, 1, cols, actBlock(dt))
			got, want := dotQuant(dt, w, a.row(0)), dotQuantGeneric(dt, w, a.row(0))
			var scale float64
			deq := make([]float32, cols)
			DequantizeRow(deq, dt, w)
			for i := range deq {
				scale += math.Abs(float64(deq[i] * x[i]))
			}
			if d := math.Abs(float64(got - want)); d > 1e-5*scale || math.IsNaN(float64(got)) {
				t.Errorf("%s cols %d: kernel %g, generic %g (scale %g)", dt, cols, got, want, scale)
			}
			// The multi-row kernels, on three copies of the row.
			rows := append(append(append([]byte{}, w...), w...), w...)
			out := []float32{-1, -1, -1}
			if dotRows(dt, rows, len(w), a.row(0), out) {
				for r, v := range out {
					if d := math.Abs(float64(v - want)); d > 1e-5*scale || math.IsNaN(float64(v)) {
						t.Errorf("%s cols %d: multi-row kernel row %d %g, generic %g", dt, cols, r, v, want)
					}
				}
			}
		}
	}
}

// TestQuantGEMMPath checks the prefill route for quantized weights (batches
// of quantGEMMMin tokens or more decode 4 rows at a time and use the float
// GEMM): it must match the float64 product of the decoded weights to float
// rounding, since no activation is quantized on this path.
func TestQuantGEMMPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cpu := NewCPU(2)
	defer cpu.Close()
	amx, gemm := cpu.useAMX, cpu.useGEMM
	defer func() { cpu.useAMX, cpu.useGEMM = amx, gemm }()
	// Every prefill route the CPU may take: AMX tiles (where the CPU has
	// them), the packed GEMM's fallback, the widening mat-mat.
	for _, route := range [][2]bool{{amx, gemm}, {false, gemm}, {false, false}} {
		cpu.useAMX, cpu.useGEMM = route[0], route[1]
		checkQuantPrefill(t, rng, cpu)
	}
}

func checkQuantPrefill(t *testing.T, rng *rand.Rand, cpu *CPU) {
	t.Helper()
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q6_K} {
		rows, cols, n := 13, 512, quantGEMMMin+3
		w, err := Quantize(dt, randF32(rng, rows*cols), cols)
		if err != nil {
			t.Fatal(err)
		}
		m := Matrix{DType: dt, Rows: rows, Cols: cols, Data: w}
		if usesTiles(m) || usesPanels(m, n) {
			continue // the token tiles and panels quantize activations: TestQuantTilePath
		}
		x, bias := randF32(rng, n*cols), randF32(rng, rows)
		out := make([]float32, n*rows)
		cpu.MatMul(out, x, n, m, bias)
		deq := ToF32(m)
		for tok := range n {
			for r := range rows {
				var want, scale float64
				for c := range cols {
					p := float64(deq[r*cols+c]) * float64(x[tok*cols+c])
					want += p
					scale += math.Abs(p)
				}
				want += float64(bias[r])
				if d := math.Abs(float64(out[tok*rows+r]) - want); d > 1e-5*scale {
					t.Fatalf("%s (AMX %v, GEMM %v) token %d row %d: %g, want %g", dt, cpu.useAMX, cpu.useGEMM, tok, r, out[tok*rows+r], want)
				}
			}
		}
	}
}

// TestQ4_0PermutedKernel checks the multi-row Q4_0 kernel that reads the
// permuted activations (qact.permuteQ4_0) against the portable kernel, row
// by row on distinct rows, for pair counts that cover its groups of four
// pairs and the pairs after them. The integer products are exact, so only
// the float summation order differs: the tolerance is 1e-6·Σ|w·x| of the
// row's dequantized weights.
func TestQ4_0PermutedKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, pairs := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 24, 33} {
		cols, rows := 64*pairs, 5
		w, err := Quantize(Q4_0, randF32(rng, rows*cols), cols)
		if err != nil {
			t.Fatal(err)
		}
		x := randF32(rng, cols)
		x[1] = -30 // an outlier, as real activations have
		var a qact
		a.quantize(x, 1, cols, 32)
		a.permuteQ4_0()
		if hasQ4_0Perm() && a.row(0).p4 == nil {
			t.Fatalf("%d pairs: no permuted activations", pairs)
		}
		out := make([]float32, rows)
		rb := Q4_0.RowBytes(cols)
		if !dotRows(Q4_0, w, rb, a.row(0), out) {
			for r := range out {
				out[r] = dotQuant(Q4_0, w[r*rb:(r+1)*rb], a.row(0))
			}
		}
		for r := range rows {
			row := w[r*rb : (r+1)*rb]
			want := dotQuantGeneric(Q4_0, row, a.row(0))
			deq := make([]float32, cols)
			DequantizeRow(deq, Q4_0, row)
			var scale float64
			for i := range deq {
				scale += math.Abs(float64(deq[i] * x[i]))
			}
			if d := math.Abs(float64(out[r] - want)); d > 1e-6*scale || math.IsNaN(float64(out[r])) {
				t.Errorf("%d pairs row %d: kernel %g, generic %g (Σ|w·x| %g)", pairs, r, out[r], want, scale)
			}
		}
	}
}

// TestQuantTilePath checks batches of quantized products, which go through
// the token-tile and panel kernels where the CPU has them (usesTiles,
// usesPanels; batches of the K-quants below panelMinTokens take the
// per-token kernels), against
// the portable kernel on the same quantized activations, token by token:
// the integer products are exact, so only the float summation order may
// differ (tolerance 1e-6·Σ|w·x| of the dequantized weights). Row counts
// that are not multiples of 4 and token counts that are not multiples of 4
// exercise the edges; a bias is added.
func TestQuantTilePath(t *testing.T) {
	if !usesTiles(Matrix{DType: Q8_0, Rows: 4, Cols: 64}) {
		t.Skip("no token-tile kernels on this CPU or build (batches take the routes TestQuantGEMMPath checks)")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, dt := range []DType{Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		for _, shape := range [][3]int{{4, 64, 4}, {13, 512, 5}, {37, 768, 19}, {8, 2048, 67}} {
			rows, cols, n := shape[0], shape[1], shape[2]
			if cols%actBlock(dt) != 0 {
				continue
			}
			w, err := Quantize(dt, randF32(rng, rows*cols), cols)
			if err != nil {
				t.Fatal(err)
			}
			m := Matrix{DType: dt, Rows: rows, Cols: cols, Data: w}
			x, bias := randF32(rng, n*cols), randF32(rng, rows)
			x[5] = 25 // an outlier, as real activations have
			out := make([]float32, n*rows)
			cpu.MatMul(out, x, n, m, bias)
			var a qact
			a.quantize(x, n, cols, actBlock(dt))
			deq := ToF32(m)
			rb := dt.RowBytes(cols)
			for tok := range n {
				for r := range rows {
					want := float64(dotQuantGeneric(dt, w[r*rb:(r+1)*rb], a.row(tok))) + float64(bias[r])
					var scale float64
					for c := range cols {
						scale += math.Abs(float64(deq[r*cols+c]) * float64(x[tok*cols+c]))
					}
					if d := math.Abs(float64(out[tok*rows+r]) - want); d > 1e-6*scale || math.IsNaN(float64(out[tok*rows+r])) {
						t.Fatalf("%s %d×%d, %d tokens (tiles %v, panels %v): token %d row %d: %g, want %g (Σ|w·x| %g)", dt, rows, cols, n, usesTiles(m), usesPanels(m, n), tok, r, out[tok*rows+r], want, scale)
					}
				}
			}
		}
	}
}

// TestQuantizeActivationsFast checks the SIMD activation quantizer (where
// the CPU has one) against the Go definition, value for value: blocks of 32
// and 256, a block of zeros, outliers, tiny values and a NaN.
func TestQuantizeActivationsFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, block := range []int{32, 256} {
		n, cols := 3, 1024
		x := randF32(rng, n*cols)
		for i := range block {
			x[block+i] = 0
		}
		x[7], x[3*block+1], x[4*block+5] = 300, -1e-30, float32(math.NaN())
		var fast, ref qact
		fast.size(n, cols, block)
		ref.size(n, cols, block)
		if !quantizeBlocksFast(&fast, x, 0, n*cols/block) {
			t.Skip("no SIMD activation quantizer on this CPU or build")
		}
		quantizeBlocksGo(&ref, x, 0, n*cols/block)
		if !slices.Equal(fast.qs, ref.qs) {
			for i := range fast.qs {
				if fast.qs[i] != ref.qs[i] {
					t.Fatalf("block %d: q[%d] = %d, want %d (x %g)", block, i, fast.qs[i], ref.qs[i], x[i])
				}
			}
		}
		for b := range fast.d {
			if math.Float32bits(fast.d[b]) != math.Float32bits(ref.d[b]) {
				t.Fatalf("block %d: d[%d] = %g, want %g", block, b, fast.d[b], ref.d[b])
			}
		}
		if !slices.Equal(fast.s16, ref.s16) {
			t.Fatalf("block %d: sums per 16 differ", block)
		}
	}
}
