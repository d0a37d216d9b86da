package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"
)

func TestOpenAllFamilies(t *testing.T) {
	// Parameter counts worked out by hand from the tiny configs
	// (H=16, I=24, L=2, heads 4, head_dim 4, vocab 40).
	tests := []struct {
		family  string
		dtype   DType
		shards  int
		params  int64
		biases  bool
		fused   bool
		tied    bool
		window0 int
	}{
		{"llama", BF16, 1, 2*(256+128+128+256+1152+32) + 2*640 + 16, false, false, false, 0},
		{"llama-tied", F16, 1, 2*(256+128+128+256+1152+32) + 640 + 16, false, false, true, 0},
		{"mistral", F16, 2, 2*(256+64+64+256+1152+32) + 2*640 + 16, false, false, false, 8},
		{"qwen2", F32, 1, 2*(256+128+128+256+1152+32+32) + 640 + 16, true, false, true, 0},
		{"qwen2", BF16, 3, 2*(256+128+128+256+1152+32+32) + 640 + 16, true, false, true, 0},
		{"phi3", BF16, 1, 2*(4*256+1152+32) + 2*640 + 16, false, true, false, 7},
		{"phi3", F32, 2, 2*(4*256+1152+32) + 2*640 + 16, false, true, false, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d-shards", tt.family, tt.dtype, tt.shards), func(t *testing.T) {
			dir := writeSynth(t, synth{config: tinyConfigs()[tt.family], dtype: tt.dtype, shards: tt.shards})
			m, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()

			f := m.Facts()
			if f.ParamsTotal != tt.params {
				t.Errorf("params_total %d, want %d", f.ParamsTotal, tt.params)
			}
			var stored int64
			for _, name := range m.TensorNames() {
				tensor, _ := m.Tensor(name)
				stored += int64(tensor.Elements())
				if tensor.DType != tt.dtype {
					t.Errorf("%s: dtype %s, want the stored %s", name, tensor.DType, tt.dtype)
				}
			}
			if stored != tt.params {
				t.Errorf("stored tensors hold %d elements, want %d", stored, tt.params)
			}
			if !f.WeightsPresent || f.DType != string(tt.dtype) || f.DTypeSource != "safetensors" {
				t.Errorf("facts dtype %s from %s (weights %v), want %s from safetensors", f.DType, f.DTypeSource, f.WeightsPresent, tt.dtype)
			}
			if f.WeightBytes != tt.params*int64(tt.dtype.Size()) {
				t.Errorf("weight bytes %d, want %d", f.WeightBytes, tt.params*int64(tt.dtype.Size()))
			}
			if len(m.Files()) != tt.shards {
				t.Errorf("%d files, want %d", len(m.Files()), tt.shards)
			}

			if got := m.Embedding(); got == nil || !slices.Equal(got.Shape, []int{40, 16}) {
				t.Fatalf("embedding %+v", got)
			}
			if got := m.FinalNorm(); got == nil || !slices.Equal(got.Shape, []int{16}) {
				t.Fatalf("final norm %+v", got)
			}
			if tied := m.LMHead() == m.Embedding(); tied != tt.tied {
				t.Errorf("LMHead is the embedding: %v, want %v", tied, tt.tied)
			}
			if !tt.tied {
				if lm, _ := m.Tensor("lm_head.weight"); m.LMHead() != lm {
					t.Error("untied LMHead is not lm_head.weight")
				}
			}
			kv := m.Config.NumKVHeads * m.Config.HeadDim
			for i := range m.Config.NumLayers {
				l := m.Layer(i)
				shapes := []struct {
					name string
					t    *Tensor
					want []int
				}{
					{"InputNorm", l.InputNorm, []int{16}}, {"PostAttnNorm", l.PostAttnNorm, []int{16}},
					{"Q", l.Q, []int{16, 16}}, {"K", l.K, []int{kv, 16}}, {"V", l.V, []int{kv, 16}}, {"O", l.O, []int{16, 16}},
					{"Gate", l.Gate, []int{24, 16}}, {"Up", l.Up, []int{24, 16}}, {"Down", l.Down, []int{16, 24}},
				}
				for _, s := range shapes {
					if s.t == nil || !slices.Equal(s.t.Shape, s.want) || len(s.t.Data) != s.t.Elements()*tt.dtype.Size() {
						t.Fatalf("layer %d %s = %+v, want shape %v", i, s.name, s.t, s.want)
					}
				}
				if hasBias := l.QBias != nil && l.KBias != nil && l.VBias != nil; hasBias != tt.biases {
					t.Errorf("layer %d q/k/v biases present %v, want %v", i, hasBias, tt.biases)
				}
				if l.OBias != nil || l.GateBias != nil || l.UpBias != nil || l.DownBias != nil {
					t.Errorf("layer %d has biases the family lacks", i)
				}
				if l.FusedQKV != tt.fused || l.FusedGateUp != tt.fused || (l.Q.FusedFrom != "") != tt.fused {
					t.Errorf("layer %d fused flags %v/%v (%q), want %v", i, l.FusedQKV, l.FusedGateUp, l.Q.FusedFrom, tt.fused)
				}
				if m.Config.LayerWindow(i) != tt.window0 {
					t.Errorf("layer %d window %d, want %d", i, m.Config.LayerWindow(i), tt.window0)
				}
			}
		})
	}
}

// The names are spelled out here, not taken from ExpectedTensors, so a
// naming slip in the package fails the test.
func TestHuggingFaceTensorNames(t *testing.T) {
	layer0 := map[string][]string{
		"llama": {"model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight",
			"model.layers.0.mlp.up_proj.weight", "model.layers.0.post_attention_layernorm.weight", "model.layers.0.self_attn.k_proj.weight",
			"model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.v_proj.weight"},
		"qwen2": {"model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight",
			"model.layers.0.mlp.up_proj.weight", "model.layers.0.post_attention_layernorm.weight", "model.layers.0.self_attn.k_proj.bias",
			"model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.q_proj.bias",
			"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.v_proj.bias", "model.layers.0.self_attn.v_proj.weight"},
		"phi3": {"model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_up_proj.weight",
			"model.layers.0.post_attention_layernorm.weight", "model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.qkv_proj.weight"},
	}
	global := map[string][]string{
		"llama": {"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"},
		"qwen2": {"model.embed_tokens.weight", "model.norm.weight"},
		"phi3":  {"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"},
	}
	for family, want := range layer0 {
		c, err := ParseConfig([]byte(tinyConfigs()[family]))
		if err != nil {
			t.Fatal(err)
		}
		var got0, gotGlobal []string
		for _, s := range c.ExpectedTensors() {
			switch {
			case len(s.Name) > 15 && s.Name[:15] == "model.layers.0.":
				got0 = append(got0, s.Name)
			case len(s.Name) < 13 || s.Name[:13] != "model.layers.":
				gotGlobal = append(gotGlobal, s.Name)
			}
		}
		slices.Sort(got0)
		slices.Sort(gotGlobal)
		if !slices.Equal(got0, want) || !slices.Equal(gotGlobal, global[family]) {
			t.Errorf("%s names:\n got %v %v\nwant %v %v", family, got0, gotGlobal, want, global[family])
		}
	}
}

func TestPhi3FusedViews(t *testing.T) {
	// Each row of the fused tensors holds its own row index, so a view's
	// first and last values tell which rows it covers.
	rowValues := func(rows, cols, offset int) []float32 {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(offset + i/cols)
		}
		return v
	}
	dir := writeSynth(t, synth{config: tinyConfigs()["phi3"], edit: func(ts map[string]*synthTensor) {
		for i := range 2 {
			ts[fmt.Sprintf("model.layers.%d.self_attn.qkv_proj.weight", i)].values = rowValues(48, 16, 0)
			ts[fmt.Sprintf("model.layers.%d.mlp.gate_up_proj.weight", i)].values = rowValues(48, 16, 100)
		}
	}})
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l := m.Layer(1)
	fusedQKV, _ := m.Tensor("model.layers.1.self_attn.qkv_proj.weight")
	fusedGU, _ := m.Tensor("model.layers.1.mlp.gate_up_proj.weight")
	views := []struct {
		name        string
		t           *Tensor
		fused       *Tensor
		first, last float32 // row index of the first and last row
		rowOffset   int
	}{
		{"Q", l.Q, fusedQKV, 0, 15, 0}, {"K", l.K, fusedQKV, 16, 31, 16}, {"V", l.V, fusedQKV, 32, 47, 32},
		{"Gate", l.Gate, fusedGU, 100, 123, 0}, {"Up", l.Up, fusedGU, 124, 147, 24},
	}
	for _, v := range views {
		vals, err := v.t.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if vals[0] != v.first || vals[len(vals)-1] != v.last {
			t.Errorf("%s covers rows %g..%g, want %g..%g", v.name, vals[0], vals[len(vals)-1], v.first, v.last)
		}
		if v.t.FusedFrom != v.fused.Name {
			t.Errorf("%s.FusedFrom = %q, want %q", v.name, v.t.FusedFrom, v.fused.Name)
		}
		if &v.t.Data[0] != &v.fused.Data[v.rowOffset*16*4] {
			t.Errorf("%s is not a zero-copy view of %s at row %d", v.name, v.fused.Name, v.rowOffset)
		}
	}
	if fusedQKV.FusedFrom != "" {
		t.Errorf("the stored fused tensor itself must not be marked as a view")
	}
}

func TestOpenChecksWeightsAgainstConfig(t *testing.T) {
	llama := tinyConfigs()["llama"]
	tests := []struct {
		name  string
		s     synth
		parts []string // substrings of the error; none: must open
	}{
		{"missing tensor", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			delete(ts, "model.layers.1.mlp.up_proj.weight")
		}}, []string{"missing", "model.layers.1.mlp.up_proj.weight [24 16]"}},
		{"wrong shape", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			ts["model.layers.0.self_attn.k_proj.weight"].shape = []int{16, 8}
		}}, []string{"model.safetensors", `"model.layers.0.self_attn.k_proj.weight" has shape [16 8], want [8 16]`}},
		{"int8 dtype", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			ts["model.layers.0.mlp.down_proj.weight"] = &synthTensor{dtype: I8, shape: []int{16, 24}, raw: make([]byte, 16*24)}
		}}, []string{"model.safetensors", `"model.layers.0.mlp.down_proj.weight" has dtype I8, which is not supported`}},
		{"extra layer", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			ts["model.layers.2.input_layernorm.weight"] = &synthTensor{dtype: F32, shape: []int{16}, values: make([]float32, 16)}
		}}, []string{"do not match config.json", "model.layers.2.input_layernorm.weight [16]"}},
		{"inv_freq buffer ignored", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			ts["model.layers.0.self_attn.rotary_emb.inv_freq"] = &synthTensor{dtype: F32, shape: []int{2}, values: make([]float32, 2)}
		}}, nil},
		{"tied with a stored lm_head", synth{config: tinyConfigs()["llama-tied"], edit: func(ts map[string]*synthTensor) {
			ts["lm_head.weight"] = &synthTensor{dtype: F32, shape: []int{40, 16}, values: make([]float32, 640)}
		}}, nil},
		{"untied without lm_head", synth{config: llama, edit: func(ts map[string]*synthTensor) {
			delete(ts, "lm_head.weight")
		}}, []string{"tied embeddings false", "lm_head.weight [40 16]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Open(writeSynth(t, tt.s))
			if tt.parts == nil {
				if err != nil {
					t.Fatal(err)
				}
				m.Close()
				return
			}
			wantErr(t, err, tt.parts...)
		})
	}
}

func TestOpenShardIndexErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(dir string, index map[string]string)
		parts []string
	}{
		{"tensor listed in the wrong shard", func(dir string, idx map[string]string) {
			other := "model-00001-of-00002.safetensors"
			if idx["model.norm.weight"] == other {
				other = "model-00002-of-00002.safetensors"
			}
			idx["model.norm.weight"] = other
		}, []string{"lists tensor \"model.norm.weight\""}},
		{"tensor not listed", func(dir string, idx map[string]string) { delete(idx, "model.norm.weight") }, []string{"does not list"}},
		{"missing shard file", func(dir string, idx map[string]string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, []string{"model-00002-of-00002.safetensors", "no such file"}},
		{"path escape", func(dir string, idx map[string]string) { idx["model.norm.weight"] = "../x.safetensors" }, []string{"want a file name in the model folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSynth(t, synth{config: tinyConfigs()["llama"], shards: 2})
			idx := map[string]string{}
			m, err := Open(dir) // sanity: the untouched folder opens
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range m.TensorNames() {
				idx[name] = ""
			}
			for _, f := range m.Files() {
				h := mustHeader(t, f)
				for _, ti := range h.Tensors {
					idx[ti.Name] = filepath.Base(f)
				}
			}
			m.Close()
			tt.edit(dir, idx)
			writeIndex(t, dir, idx)
			_, err = Open(dir)
			wantErr(t, err, tt.parts...)
		})
	}
}

func mustHeader(t *testing.T, path string) *Header {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestOpenWithoutWeights(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfigs()["llama"]), 0o644)
	_, err := Open(dir)
	if !errors.Is(err, ErrNoWeights) {
		t.Fatalf("err = %v, want ErrNoWeights", err)
	}
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("x"), 0o644)
	_, err = Open(dir)
	if !errors.Is(err, ErrNoWeights) {
		t.Fatalf("err = %v, want ErrNoWeights", err)
	}
	wantErr(t, err, "pytorch_model.bin", "convert")

	// Shards without their index are not "no weights": the folder is broken.
	os.WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), []byte("x"), 0o644)
	_, err = Open(dir)
	if errors.Is(err, ErrNoWeights) {
		t.Fatal("shards without an index must not read as a config-only folder")
	}
	wantErr(t, err, "model-00001-of-00002.safetensors", "model.safetensors.index.json")
}

func TestOpenCorruptFiles(t *testing.T) {
	tests := []struct {
		name  string
		file  func(valid []byte) []byte
		parts []string
	}{
		{"truncated", func(v []byte) []byte { return v[:len(v)-10] }, []string{"model.safetensors", "truncated"}},
		{"cut inside the header", func(v []byte) []byte { return v[:40] }, []string{"runs past the end of the file", "truncated"}},
		{"header too large", func(v []byte) []byte {
			out := append([]byte(nil), v...)
			out[3] = 0x20 // 512 MiB
			return out
		}, []string{"exceeds the 100000000-byte cap"}},
		{"bad JSON", func(v []byte) []byte { return rawSafetensors(`{"a": {"dtype": "F32",`, nil) }, []string{"header JSON"}},
		{"not safetensors", func(v []byte) []byte { return []byte("PK\x03\x04 zip file, not safetensors") }, []string{"exceeds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSynth(t, synth{config: tinyConfigs()["llama"]})
			path := filepath.Join(dir, "model.safetensors")
			valid, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.file(valid), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir)
			wantErr(t, err, tt.parts...)
		})
	}
}

// TestTensorDataAliasesTheFile shows the weights are not copied: a tensor's
// bytes lie inside the file's mapping, and a change written to the file
// shows through them (a private copy would not change).
func TestTensorDataAliasesTheFile(t *testing.T) {
	if !mapped {
		t.Skip("this platform reads files instead of mapping them")
	}
	dir := writeSynth(t, synth{config: tinyConfigs()["llama"], dtype: BF16})
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	norm := m.FinalNorm()
	mapping := m.files[0].data
	start := uintptr(unsafe.Pointer(&mapping[0]))
	p := uintptr(unsafe.Pointer(&norm.Data[0]))
	if p < start || p+uintptr(len(norm.Data)) > start+uintptr(len(mapping)) {
		t.Fatalf("final norm data at %#x is outside the mapping [%#x, %#x)", p, start, start+uintptr(len(mapping)))
	}
	offset := int64(p - start)

	f, err := os.OpenFile(filepath.Join(dir, "model.safetensors"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0x80, 0x3f}, offset); err != nil { // bf16 1.0
		t.Fatal(err)
	}
	if v, _ := norm.Uint16View(); BF16ToFloat32(v[0]) != 1.0 {
		t.Errorf("after rewriting the file, norm[0] = %g, want 1 (the data is a copy, not the mapping)", BF16ToFloat32(v[0]))
	}
}

func TestCloseTwice(t *testing.T) {
	m, err := Open(writeSynth(t, synth{config: tinyConfigs()["qwen2"]}))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
