package model

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadTestConfig(t *testing.T, name string) *Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", name, err)
	}
	return c
}

// The published counts come from the model cards / the research note, not
// from this package; kv bytes are 2 × layers × kv_heads × head_dim × width
// worked out by hand.
func TestFactsMatchPublishedModels(t *testing.T) {
	tests := []struct {
		file       string
		params     int64
		attention  string
		headDim    int
		dtype      string
		kvBytes    int64
		tied       bool
		windowed   int // sliding layers
		ropeScaled string
	}{
		{"qwen2.5-0.5b.json", 494_032_768, "GQA", 64, "BF16", 2 * 24 * 2 * 64 * 2, true, 0, "none"},
		{"tinyllama-1.1b-chat-v1.0-resave.json", 1_100_048_384, "GQA", 64, "F32", 2 * 22 * 4 * 64 * 4, false, 0, "none"},
		{"llama-3.2-1b-handwritten.json", 1_235_814_400, "GQA", 64, "BF16", 2 * 16 * 8 * 64 * 2, true, 0, "llama3 ×32"},
		{"smollm2-135m-v5-handwritten.json", 134_515_008, "GQA", 64, "BF16", 2 * 30 * 3 * 64 * 2, true, 0, "none"},
		{"mistral-7b-v0.1-handwritten.json", 7_241_732_096, "GQA", 128, "BF16", 2 * 32 * 8 * 128 * 2, false, 32, "none"},
		{"phi-3-mini-4k-handwritten.json", 3_821_079_552, "MHA", 96, "BF16", 2 * 32 * 32 * 96 * 2, false, 32, "none"},
		{"qwen3-0.6b-handwritten.json", 596_049_920, "GQA", 128, "BF16", 2 * 28 * 8 * 128 * 2, true, 0, "none"},
		{"qwen3-4b.json", 4_022_468_096, "GQA", 128, "BF16", 2 * 36 * 8 * 128 * 2, true, 0, "none"},
		{"qwen3-8b.json", 8_190_735_360, "GQA", 128, "BF16", 2 * 36 * 8 * 128 * 2, false, 0, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := loadTestConfig(t, tt.file).Facts()
			if f.ParamsTotal != tt.params {
				t.Errorf("params_total = %d, want published %d (off by %d)", f.ParamsTotal, tt.params, f.ParamsTotal-tt.params)
			}
			if f.Attention != tt.attention || f.HeadDim != tt.headDim || f.DType != tt.dtype || f.TiedEmbeddings != tt.tied {
				t.Errorf("attention %s head_dim %d dtype %s tied %v, want %s %d %s %v", f.Attention, f.HeadDim, f.DType, f.TiedEmbeddings, tt.attention, tt.headDim, tt.dtype, tt.tied)
			}
			if f.KVCacheBytesPerToken != tt.kvBytes || f.KVCacheDType != tt.dtype {
				t.Errorf("kv cache %d bytes/token at %s, want %d at %s", f.KVCacheBytesPerToken, f.KVCacheDType, tt.kvBytes, tt.dtype)
			}
			if f.SlidingLayers != tt.windowed {
				t.Errorf("sliding layers %d, want %d", f.SlidingLayers, tt.windowed)
			}
			if f.RopeScaling != tt.ropeScaled {
				t.Errorf("rope scaling %q, want %q", f.RopeScaling, tt.ropeScaled)
			}
			if f.ParamsEmbedding+f.ParamsNonEmbedding != f.ParamsTotal {
				t.Errorf("embedding %d + non-embedding %d != total %d", f.ParamsEmbedding, f.ParamsNonEmbedding, f.ParamsTotal)
			}
			wantEmb := int64(f.Vocab) * int64(f.Hidden)
			if !tt.tied {
				wantEmb *= 2
			}
			if f.ParamsEmbedding != wantEmb {
				t.Errorf("params_embedding %d, want %d", f.ParamsEmbedding, wantEmb)
			}
		})
	}
}

func TestFLOPsTinyLlama(t *testing.T) {
	f := loadTestConfig(t, "tinyllama-1.1b-chat-v1.0-resave.json").Facts()
	// Layer matmul weights = non-embedding params 968,976,384 − 22×2×2048
	// layer norms − 2048 final norm = 968,884,224; plus lm_head 32000×2048.
	const base = 2 * (968_884_224 + 32000*2048)
	const perCtx = 22 * 4 * 32 * 64
	if f.FLOPsPerTokenBase != base || f.FLOPsPerContextToken != perCtx {
		t.Fatalf("flops base %d per-context %d, want %d %d", f.FLOPsPerTokenBase, f.FLOPsPerContextToken, base, perCtx)
	}
	if got := f.FLOPsPerToken(100); got != base+100*perCtx {
		t.Errorf("FLOPsPerToken(100) = %d, want %d", got, base+100*perCtx)
	}
}

func TestFLOPsSlidingWindowCapsContext(t *testing.T) {
	f := loadTestConfig(t, "mistral-7b-v0.1-handwritten.json").Facts()
	if a, b := f.FLOPsPerToken(4096), f.FLOPsPerToken(10000); a != b {
		t.Errorf("beyond the 4096 window the attention cost must stop growing: %d vs %d", a, b)
	}
	if a, b := f.FLOPsPerToken(100), f.FLOPsPerToken(200); b-a != 100*f.FLOPsPerContextToken {
		t.Errorf("inside the window each position costs per_context_token: diff %d, want %d", b-a, 100*f.FLOPsPerContextToken)
	}
}

func TestConfigNormalisation(t *testing.T) {
	q := loadTestConfig(t, "qwen2.5-0.5b.json")
	if !q.QKVBias || q.OBias || q.MLPBias || q.FusedQKV {
		t.Errorf("qwen2 biases/fusion wrong: %+v", q)
	}
	if q.SlidingWindow != 0 || q.LayerWindow(23) != 0 {
		t.Errorf("qwen2.5 has use_sliding_window false; got window %d", q.SlidingWindow)
	}
	if q.RMSNormEps != 1e-6 || q.RopeTheta != 1e6 || q.BOSTokenID != 151643 || !slices.Equal(q.EOSTokenIDs, []int{151643}) {
		t.Errorf("qwen2 eps %g theta %g bos %d eos %v", q.RMSNormEps, q.RopeTheta, q.BOSTokenID, q.EOSTokenIDs)
	}

	l := loadTestConfig(t, "llama-3.2-1b-handwritten.json")
	want := RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	if l.RopeScaling == nil || *l.RopeScaling != want {
		t.Errorf("llama3 rope scaling = %+v, want %+v", l.RopeScaling, want)
	}

	s := loadTestConfig(t, "smollm2-135m-v5-handwritten.json")
	if s.RopeTheta != 100000 || s.RopeScaling != nil || s.DType != BF16 {
		t.Errorf("v5 rope_parameters/dtype: theta %g scaling %+v dtype %s", s.RopeTheta, s.RopeScaling, s.DType)
	}

	q3 := loadTestConfig(t, "qwen3-4b.json")
	if !q3.QKNorm || q3.QKVBias || q3.OBias || q3.HeadDim != 128 || q3.HiddenSize/q3.NumHeads == q3.HeadDim || q3.LayerWindow(35) != 0 {
		t.Errorf("qwen3: q/k norm %v biases %v/%v head_dim %d window %d", q3.QKNorm, q3.QKVBias, q3.OBias, q3.HeadDim, q3.LayerWindow(35))
	}

	p := loadTestConfig(t, "phi-3-mini-4k-handwritten.json")
	if !p.FusedQKV || !p.FusedGateUp || p.QKVBias || p.SlidingWindow != 2047 || p.LayerWindow(0) != 2047 || p.RotaryDim() != 96 {
		t.Errorf("phi3: %+v", p)
	}
}

// base is a minimal valid llama config that the cases below edit.
const baseConfig = `{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
 "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100 %s}`

func TestParseConfigCases(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(*Config) bool
		err   string // substring; "" = must parse
	}{
		{"kv heads default to heads", ``, func(c *Config) bool { return c.NumKVHeads == 4 && c.HeadDim == 16 && c.AttentionKind() == "MHA" }, ""},
		{"mqa", `, "num_key_value_heads": 1`, func(c *Config) bool { return c.AttentionKind() == "MQA" }, ""},
		{"explicit head_dim", `, "head_dim": 32`, func(c *Config) bool { return c.HeadDim == 32 }, ""},
		{"null head_dim", `, "head_dim": null`, func(c *Config) bool { return c.HeadDim == 16 }, ""},
		{"eos list", `, "eos_token_id": [5, 7], "bos_token_id": 1`, func(c *Config) bool { return slices.Equal(c.EOSTokenIDs, []int{5, 7}) && c.BOSTokenID == 1 }, ""},
		{"no bos", ``, func(c *Config) bool { return c.BOSTokenID == -1 && c.EOSTokenIDs == nil }, ""},
		{"rope null", `, "rope_scaling": null`, func(c *Config) bool { return c.RopeScaling == nil && c.RopeTheta == 10000 }, ""},
		{"rope legacy type linear", `, "rope_scaling": {"type": "linear", "factor": 2.0}`, func(c *Config) bool {
			return c.RopeScaling != nil && c.RopeScaling.Type == "linear" && c.RopeScaling.Factor == 2
		}, ""},
		{"rope_parameters llama3", `, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000, "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}`,
			func(c *Config) bool {
				return c.RopeTheta == 500000 && c.RopeScaling.Type == "llama3" && c.RopeScaling.Factor == 8
			}, ""},
		{"dtype beats torch_dtype", `, "torch_dtype": "float32", "dtype": "float16"`, func(c *Config) bool { return c.DType == F16 }, ""},
		{"no dtype", ``, func(c *Config) bool {
			return c.DType == Unknown && c.Facts().DType == "unknown" && c.Facts().KVCacheBytesPerToken == 0
		}, ""},
		{"partial rotary", `, "partial_rotary_factor": 0.5`, func(c *Config) bool { return c.RotaryDim() == 8 }, ""},
		{"attention bias", `, "attention_bias": true, "mlp_bias": true`, func(c *Config) bool { return c.QKVBias && c.OBias && c.MLPBias }, ""},
		{"llama ignores sliding_window", `, "sliding_window": 16`, func(c *Config) bool { return c.LayerWindow(0) == 0 }, ""},

		{"rope yarn", `, "rope_scaling": {"rope_type": "yarn", "factor": 4}`, nil, `rope type "yarn" is not supported (supported: default, linear, llama3)`},
		{"rope llama3 incomplete", `, "rope_scaling": {"rope_type": "llama3", "factor": 8}`, nil, "needs key low_freq_factor"},
		{"rope linear no factor", `, "rope_scaling": {"type": "linear"}`, nil, "needs key factor"},
		{"kv heads not a divisor", `, "num_key_value_heads": 3`, nil, "want a divisor of num_attention_heads (4)"},
		{"bad dtype", `, "torch_dtype": "int8"`, nil, `torch_dtype: dtype "int8" is not supported`},
		{"bad eos", `, "eos_token_id": "x"`, nil, "eos_token_id: want an integer or a list"},
		{"gelu", `, "hidden_act": "gelu"`, nil, `hidden_act "gelu" is not supported`},
		{"partial rotary odd", `, "partial_rotary_factor": 0.1`, nil, "rotary dims"},
	}
	qwen3 := []struct {
		name  string
		extra string
		check func(*Config) bool
	}{
		// Qwen3Config defaults head_dim to 128 (not hidden/heads = 16).
		{"qwen3 head_dim default", ``, func(c *Config) bool { return c.HeadDim == 128 && c.QKNorm && !c.QKVBias }},
		{"qwen3 attention_bias", `, "attention_bias": true`, func(c *Config) bool { return c.QKVBias && c.OBias && !c.MLPBias }},
		{"qwen3 window from max_window_layers", `, "sliding_window": 8, "use_sliding_window": true, "max_window_layers": 1`, func(c *Config) bool { return c.LayerWindow(0) == 0 && c.LayerWindow(1) == 8 }},
	}
	for _, tt := range qwen3 {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(strings.Replace(strings.Replace(baseConfig, "llama", "qwen3", 1), "%s", tt.extra, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config not as expected: %+v", c)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(strings.Replace(baseConfig, "%s", tt.extra, 1)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config not as expected: %+v", c)
			}
		})
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct{ json, err string }{
		{`{"model_type": "gemma", "hidden_size": 1}`, `model_type "gemma" is not supported (supported: llama, mistral, qwen2, qwen3, phi3)`},
		{`{"hidden_size": 1}`, "no model_type key (supported: llama, mistral, qwen2, qwen3, phi3)"},
		{`{"model_type": "llama", "hidden_size": 64}`, "missing required key intermediate_size"},
		{`{"model_type": "llama",`, "not valid config JSON"},
		{`{"model_type": "qwen2", "hidden_size": 0, "intermediate_size": 1, "num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": 1}`, "hidden_size is 0"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseConfig(%s) err = %v, want %q", tt.json, err, tt.err)
		}
	}
}

func TestLoadConfigMergesGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(baseConfig, "%s", `, "eos_token_id": 2`, 1)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"bos_token_id": 1, "eos_token_id": [9, 2]}`), 0o644)
	c, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.EOSTokenIDs, []int{9, 2}) || c.BOSTokenID != 1 {
		t.Errorf("eos %v bos %d, want [9 2] 1", c.EOSTokenIDs, c.BOSTokenID)
	}
	if _, err := LoadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no config.json") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestSlidingWindowLayers(t *testing.T) {
	qwen := `{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3,
		"num_attention_heads": 4, "vocab_size": 100, "sliding_window": 16 %s}`
	tests := []struct {
		name  string
		extra string
		want  []int // window per layer
		err   string
	}{
		{"qwen2 off", `, "use_sliding_window": false`, []int{0, 0, 0}, ""},
		{"qwen2 from max_window_layers", `, "use_sliding_window": true, "max_window_layers": 1`, []int{0, 16, 16}, ""},
		{"explicit layer_types", `, "use_sliding_window": true, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]`, []int{16, 0, 16}, ""},
		{"layer_types length", `, "use_sliding_window": true, "layer_types": ["full_attention"]`, nil, "layer_types has 1 entries, want num_hidden_layers (3)"},
		{"layer_types unknown", `, "use_sliding_window": true, "layer_types": ["full_attention", "chunked_attention", "full_attention"]`, nil, `layer_types[1] is "chunked_attention"`},
		{"sliding without window", `, "layer_types": ["full_attention", "sliding_attention", "full_attention"]`, nil, "no sliding_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(strings.Replace(qwen, "%s", tt.extra, 1)))
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i := range c.NumLayers {
				got = append(got, c.LayerWindow(i))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("windows %v, want %v", got, tt.want)
			}
		})
	}
	m, err := ParseConfig([]byte(`{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128,
		"num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "sliding_window": null}`))
	if err != nil || m.LayerWindow(0) != 0 {
		t.Errorf("mistral sliding_window null: %v window %d", err, m.LayerWindow(0))
	}
}
