package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/model"
)

// ggufFixtureDir holds llama.cpp-made GGUF files with the greedy ids of an
// independent float64 reference on their dequantized weights; see
// backend/model/testdata/gguf/README.md.
var ggufFixtureDir = filepath.Join("..", "model", "testdata", "gguf")

type ggufCase struct {
	Name, Arch, Type, File string
	PromptIDs              []int `json:"prompt_ids"`
	IDs                    []int `json:"ids"`
	Compare                int   `json:"compare"`
	Mistakes               map[string]struct {
		IDs []int `json:"ids"`
	} `json:"mistakes"`
}

func loadGGUFCases(t *testing.T) []ggufCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ggufFixtureDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []ggufCase }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

// TestGGUFFixturesGreedy runs every fixture file greedily from its prompt
// and requires the reference ids over the compared prefix (the steps whose
// reference margin survives 8-bit activations; see FIXTURES.md).
func TestGGUFFixturesGreedy(t *testing.T) {
	for _, c := range loadGGUFCases(t) {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			m, err := model.Open(filepath.Join(ggufFixtureDir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			e, err := New(m, Options{Threads: 2, Context: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			res, err := e.Generate(context.Background(), Request{PromptIDs: c.PromptIDs, MaxTokens: len(c.IDs), IgnoreEOS: true}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := res.GeneratedIDs
			if len(got) < c.Compare || !slices.Equal(got[:c.Compare], c.IDs[:c.Compare]) {
				for name, mk := range c.Mistakes {
					if len(got) >= c.Compare && slices.Equal(got[:c.Compare], mk.IDs[:c.Compare]) {
						t.Errorf("ids match the known bug %q", name)
					}
				}
				t.Fatalf("greedy ids %v, want %v (first %d compared)", got, c.IDs, c.Compare)
			}
			t.Logf("%s: %d/%d reference ids (compared %d)", c.Type, commonPrefix(got, c.IDs), len(c.IDs), c.Compare)
			// On CPUs with the x16 kernels, quantized files decode through
			// weights repacked at load: the ids above came from them.
			if quantized := c.Type == "Q8_0" || c.Type == "Q4_0" || strings.HasPrefix(c.Type, "Q4_K") || strings.HasPrefix(c.Type, "Q5_K") || c.Type == "Q6_K"; quantized && x16Available() && !strings.Contains(e.BackendName(), "+x16") {
				t.Errorf("backend %q: the %s weights were not repacked for decode", e.BackendName(), c.Type)
			}
		})
	}
}

// x16Available reports whether this CPU repacks quantized weights for decode,
// probing with one Q4_0 panel.
func x16Available() bool {
	c := compute.NewCPU(1)
	defer c.Close()
	data, err := compute.Quantize(compute.Q4_0, make([]float32, 16*64), 64)
	if err != nil {
		return false
	}
	m := compute.Matrix{DType: compute.Q4_0, Rows: 16, Cols: 64, Data: data}
	return c.PackWeights([]*compute.Matrix{&m}) > 0
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestGGUFConversionKeepsGreedyIDs converts Hugging Face folders to GGUF
// the way llama.cpp's converter does (q/k rows permuted for llama) and
// requires the GGUF model to generate the same greedy ids as the folder:
// the proof that the reader undoes the permutation, maps every tensor and
// reads the config (rope scaling, biases, fused phi3 tensors, head_dim).
func TestGGUFConversionKeepsGreedyIDs(t *testing.T) {
	specs := []struct {
		name string
		spec tinySpec
	}{
		{"llama-gqa-untied-bf16-llama3", tinySpec{modelType: "llama", dim: 64, hidden: 160, layers: 2, heads: 4, kvHeads: 2, vocab: 97, dtype: model.BF16, seed: 2,
			ropeTheta: 500000, ropeScaling: map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}},
		{"llama-linear-bias-f16", tinySpec{modelType: "llama", dim: 72, hidden: 100, layers: 2, heads: 4, kvHeads: 1, vocab: 89, dtype: model.F16, attnBias: true, mlpBias: true, seed: 3,
			ropeScaling: map[string]any{"type": "linear", "factor": 2.0}}},
		{"qwen2-qkv-bias-gqa-tied", tinySpec{modelType: "qwen2", dim: 64, hidden: 128, layers: 2, heads: 8, kvHeads: 2, vocab: 103, tied: true, dtype: model.BF16, seed: 4, ropeTheta: 1e6}},
		{"qwen3-qknorm-headdim-tied", tinySpec{modelType: "qwen3", dim: 48, headDim: 16, hidden: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 97, tied: true, dtype: model.BF16, seed: 8, ropeTheta: 1e6}},
		{"phi3-fused-partial-rotary", tinySpec{modelType: "phi3", dim: 64, hidden: 80, layers: 2, heads: 4, kvHeads: 4, vocab: 99, dtype: model.BF16, partialRotary: 0.5, seed: 6}},
		{"llama-headdim-override", tinySpec{modelType: "llama", dim: 48, headDim: 16, hidden: 64, layers: 1, heads: 4, kvHeads: 2, vocab: 80, seed: 7}},
	}
	prompt := []int{1, 5, 9, 2, 7, 3}
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			tm := writeTiny(t, s.spec)
			hf := tm.open(t, Options{Threads: 1, Context: 64})
			want, err := hf.Generate(context.Background(), Request{PromptIDs: prompt, MaxTokens: 16, IgnoreEOS: true}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}

			src, err := model.Open(tm.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got := convertedGreedy(t, src, s.name, model.FloatEncoder(model.F32), prompt)
			if !slices.Equal(got, want.GeneratedIDs) {
				t.Fatalf("GGUF greedy ids %v, Hugging Face folder %v", got, want.GeneratedIDs)
			}
			// A file whose q/k rows were not permuted (as a converter that
			// forgot would write it) must generate different ids, or this
			// test could not catch a reader that skips the un-permutation.
			if s.spec.modelType == "llama" {
				heads := map[string]int{"attn_q": src.Config.NumHeads, "attn_k": src.Config.NumKVHeads}
				enc := func(name string, shape []int, values []float32) (model.GGMLType, []byte, error) {
					for k, h := range heads {
						if strings.Contains(name, "."+k+".") {
							values = unpermute(values, shape, h)
						}
					}
					return model.FloatEncoder(model.F32)(name, shape, values)
				}
				if wrong := convertedGreedy(t, src, s.name, enc, prompt); slices.Equal(wrong, want.GeneratedIDs) {
					t.Errorf("an unpermuted file gives the same ids %v: the test cannot see the permutation", wrong)
				}
			}
		})
	}
}

// unpermute is the inverse of convert_hf_to_gguf.py's permute (per head,
// row 2i + j goes back to row j·d/2 + i), written here from the definition.
func unpermute(values []float32, shape []int, heads int) []float32 {
	rows := shape[0]
	cols, d := len(values)/rows, rows/heads
	out := make([]float32, len(values))
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				src, dst := h*d+2*i+j, h*d+j*d/2+i
				copy(out[dst*cols:(dst+1)*cols], values[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// convertedGreedy converts src to a GGUF file with enc, opens it and returns
// 16 greedy ids from prompt.
func convertedGreedy(t *testing.T, src *model.Model, name string, enc model.GGUFEncoder, prompt []int) []int {
	t.Helper()
	w := model.NewGGUFWriter()
	if err := model.WriteGGUF(src, w, name, 0, enc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e, err := New(m, Options{Threads: 1, Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := e.Generate(context.Background(), Request{PromptIDs: prompt, MaxTokens: 16, IgnoreEOS: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.GeneratedIDs
}
