package model

import (
	"math"
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
		{"gemma-3-1b-it.json", 999_885_952, "MQA", 256, "BF16", 2 * 26 * 1 * 256 * 2, true, 26 - 4, "none"},
		{"gemma-3-4b-it-handwritten.json", 3_880_263_168, "GQA", 256, "BF16", 2 * 34 * 4 * 256 * 2, true, 34 - 5, "linear ×8"},
		{"gemma-3-12b-it-handwritten.json", 11_766_034_176, "GQA", 256, "BF16", 2 * 48 * 8 * 256 * 2, true, 48 - 8, "linear ×8"},
		{"mixtral-8x7b-v0.1-handwritten.json", 46_702_792_704, "GQA", 128, "BF16", 2 * 32 * 8 * 128 * 2, false, 0, "none"},
		{"qwen1.5-moe-a2.7b-handwritten.json", 14_315_784_192, "MHA", 128, "BF16", 2 * 24 * 16 * 128 * 2, false, 0, "none"},
		{"qwen3-30b-a3b.json", 30_532_122_624, "GQA", 128, "BF16", 2 * 48 * 4 * 128 * 2, false, 0, "none"},
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

// The MoE facts against the published figures: experts, top-k and shared
// experts from the model cards, active parameters to the 0.1B they are
// published at (see testdata/configs/README.md).
func TestMoEFactsMatchPublishedModels(t *testing.T) {
	tests := []struct {
		file                  string
		experts, topK, shared int
		moeLayers             int
		activeB               float64 // published, to 0.1B
	}{
		{"mixtral-8x7b-v0.1-handwritten.json", 8, 2, 0, 32, 12.9},
		{"qwen1.5-moe-a2.7b-handwritten.json", 60, 4, 1, 24, 2.7},
		{"qwen3-30b-a3b.json", 128, 8, 0, 48, 3.3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := loadTestConfig(t, tt.file).Facts()
			if !f.MoE || f.Experts != tt.experts || f.TopK != tt.topK || f.SharedExperts != tt.shared || f.MoELayers != tt.moeLayers {
				t.Errorf("moe %v experts %d top-%d shared %d layers %d, want %d top-%d shared %d layers %d",
					f.MoE, f.Experts, f.TopK, f.SharedExperts, f.MoELayers, tt.experts, tt.topK, tt.shared, tt.moeLayers)
			}
			// Published to 0.1B, rounded (Mixtral's 12.88 → 12.9) or cut
			// (Qwen3's 3.35 → 3.3).
			got := float64(f.ParamsActive) / 1e9
			if math.Round(got*10)/10 != tt.activeB && math.Floor(got*10)/10 != tt.activeB {
				t.Errorf("params_active %d (%.2fB), published %.1fB", f.ParamsActive, got, tt.activeB)
			}
			if f.ParamsActive >= f.ParamsTotal {
				t.Errorf("active %d not below total %d", f.ParamsActive, f.ParamsTotal)
			}
		})
	}
	// A dense model is its own active count.
	if f := loadTestConfig(t, "qwen3-8b.json").Facts(); f.MoE || f.ParamsActive != f.ParamsTotal {
		t.Errorf("dense qwen3-8b: moe %v active %d total %d", f.MoE, f.ParamsActive, f.ParamsTotal)
	}
}

// Mixtral's FLOPs count the router and two of its eight experts: per
// layer 2·(attention + 8·H + 2·3·H·I), worked out by hand.
func TestFLOPsMoECountsActiveExperts(t *testing.T) {
	f := loadTestConfig(t, "mixtral-8x7b-v0.1-handwritten.json").Facts()
	const H, I, L, V = 4096, 14336, 32, 32000
	const attn = H*4096 + 2*H*1024 + 4096*H
	const base = 2 * (L*(attn+8*H+2*3*H*I) + V*H)
	if f.FLOPsPerTokenBase != base {
		t.Errorf("mixtral flops base %d, want %d", f.FLOPsPerTokenBase, base)
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

	g := loadTestConfig(t, "gemma-3-4b-it-handwritten.json")
	if !g.Gemma.On || !g.Gemma.Multimodal || g.Gemma.QueryPreAttnScalar != 256 || g.Gemma.LocalRopeTheta != 10000 ||
		g.RopeTheta != 1e6 || g.HiddenAct != "gelu_pytorch_tanh" || !g.TieWordEmbeddings || !g.QKNorm ||
		g.NumHeads != 8 || g.NumKVHeads != 4 || g.HeadDim != 256 || g.VocabSize != 262208 ||
		g.LayerWindow(0) != 1024 || g.LayerWindow(5) != 0 || !slices.Equal(g.EOSTokenIDs, []int{1, 106}) || g.DType != BF16 {
		t.Errorf("gemma-3-4b text config from defaults: %+v", g)
	}
	if g.RopeScaling == nil || g.RopeScaling.Type != "linear" || g.RopeScaling.Factor != 8 {
		t.Errorf("gemma-3-4b rope_scaling (full layers) = %+v", g.RopeScaling)
	}

	mx := loadTestConfig(t, "mixtral-8x7b-v0.1-handwritten.json")
	if mx.MoE == nil || !mx.MoE.Mixtral || !mx.MoE.NormTopKProb || mx.MoE.Intermediate != 14336 || mx.MoE.DenseLayers != nil || mx.LayerWindow(0) != 0 {
		t.Errorf("mixtral moe %+v", mx.MoE)
	}
	qm := loadTestConfig(t, "qwen1.5-moe-a2.7b-handwritten.json")
	if qm.MoE == nil || qm.MoE.NormTopKProb || qm.MoE.SharedIntermediate != 5632 || qm.MoE.Intermediate != 1408 || !qm.QKVBias || qm.OBias {
		t.Errorf("qwen2_moe %+v bias %v/%v", qm.MoE, qm.QKVBias, qm.OBias)
	}
	q3m := loadTestConfig(t, "qwen3-30b-a3b.json")
	if q3m.MoE == nil || !q3m.MoE.NormTopKProb || q3m.HasSharedExpert() || !q3m.QKNorm || q3m.QKVBias {
		t.Errorf("qwen3_moe %+v", q3m.MoE)
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
		{`{"model_type": "gemma", "hidden_size": 1}`, `model_type "gemma" is not supported (supported: llama, mistral, qwen2, qwen3, phi3, gemma3_text`},
		{`{"hidden_size": 1}`, "no model_type key (supported: llama, mistral"},
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

func TestParseGemmaAndMoECases(t *testing.T) {
	gemma := `{"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100 %s}`
	moe := `{"model_type": "qwen2_moe", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
		"num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 100, "num_experts": 4, "num_experts_per_tok": 2,
		"moe_intermediate_size": 32, "shared_expert_intermediate_size": 48 %s}`
	tests := []struct {
		name, base, extra string
		check             func(*Config) bool
		err               string
	}{
		{"gemma pattern", gemma, `, "sliding_window": 8, "sliding_window_pattern": 2`, func(c *Config) bool {
			return c.LayerWindow(0) == 8 && c.LayerWindow(1) == 0 && c.LayerWindow(2) == 8 && c.LayerWindow(3) == 0
		}, ""},
		{"gemma layer_types win over the pattern", gemma, `, "sliding_window": 8, "sliding_window_pattern": 2,
			"layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]`, func(c *Config) bool {
			return c.LayerWindow(0) == 0 && c.LayerWindow(1) == 8 && c.LayerWindow(3) == 8
		}, ""},
		{"gemma default window and pattern", gemma, ``, func(c *Config) bool {
			return c.SlidingWindow == 4096 && c.LayerWindow(3) == 4096 && c.Gemma.QueryPreAttnScalar == 256
		}, ""},
		{"gemma v5 rope_parameters per layer type", gemma, `, "rope_parameters": {
			"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
			"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}`, func(c *Config) bool {
			return c.RopeTheta == 1e6 && c.RopeScaling != nil && c.RopeScaling.Factor == 8 && c.Gemma.LocalRopeTheta == 10000
		}, ""},
		{"gemma query_pre_attn_scalar", gemma, `, "query_pre_attn_scalar": 144`, func(c *Config) bool { return c.Gemma.QueryPreAttnScalar == 144 }, ""},
		{"gemma softcap", gemma, `, "final_logit_softcapping": 30.0`, nil, "soft-capping (Gemma 2) is not supported"},
		{"gemma silu", gemma, `, "hidden_activation": "silu"`, nil, `hidden_activation "silu" is not supported for gemma3_text (supported: gelu_pytorch_tanh)`},
		{"embedding gemma", gemma, `, "use_bidirectional_attention": true`, nil, "embedding model"},
		{"gemma3 without text_config", `{"model_type": "gemma3"}`, ``, nil, "without a text_config"},

		{"moe every layer", moe, ``, func(c *Config) bool { return c.IsMoELayer(0) && c.IsMoELayer(3) && !c.MoE.NormTopKProb }, ""},
		{"moe dense layers", moe, `, "mlp_only_layers": [0], "decoder_sparse_step": 2`, func(c *Config) bool {
			return slices.Equal(c.MoE.DenseLayers, []int{0, 2}) && c.IsMoELayer(1) && c.IsMoELayer(3) && c.Facts().MoELayers == 2
		}, ""},
		{"moe norm_topk_prob", moe, `, "norm_topk_prob": true`, func(c *Config) bool { return c.MoE.NormTopKProb }, ""},
		{"moe top-k above experts", moe, `, "num_experts_per_tok": 5`, nil, "num_experts_per_tok is 5, want 1 … num_experts (4)"},
		{"moe bad dense layer", moe, `, "mlp_only_layers": [9]`, nil, "mlp_only_layers lists layer 9"},
		{"moe kv heads default to the config class's", `{"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2,
			"intermediate_size": 128, "num_attention_heads": 8, "vocab_size": 100 %s}`, ``, func(c *Config) bool {
			return c.NumKVHeads == 4 && c.MoE.Experts == 128 && c.MoE.TopK == 8 && c.MoE.Intermediate == 768 && !c.MoE.NormTopKProb
		}, ""},
		{"mixtral local experts", `{"model_type": "mixtral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "num_local_experts": 4, "num_experts_per_tok": 1 %s}`, ``, func(c *Config) bool {
			return c.MoE.Experts == 4 && c.MoE.TopK == 1 && c.MoE.NormTopKProb && c.MoE.Intermediate == 128
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(strings.Replace(tt.base, "%s", tt.extra, 1)))
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config not as expected: %+v %+v", c, c.MoE)
			}
		})
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
