package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"energyprofiler/backend/model"
)

// variants covers every architecture feature the engine implements. Odd
// sizes exercise the kernels' vector tails.
func variants() []struct {
	name string
	spec tinySpec
	hf   bool // checked against hfLogits, the transformers-module reference
} {
	return []struct {
		name string
		spec tinySpec
		hf   bool
	}{
		{"llama-mha-tied-f32", tinySpec{modelType: "llama", dim: 64, hidden: 96, layers: 2, heads: 4, kvHeads: 4, vocab: 101, tied: true, seed: 1}, false},
		{"llama-gqa-untied-bf16-llama3", tinySpec{modelType: "llama", dim: 64, hidden: 160, layers: 2, heads: 4, kvHeads: 2, vocab: 97, dtype: model.BF16, seed: 2,
			ropeTheta: 500000, ropeScaling: map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}, false},
		{"llama-linear-bias-f16-oddsizes", tinySpec{modelType: "llama", dim: 72, hidden: 100, layers: 2, heads: 4, kvHeads: 1, vocab: 89, dtype: model.F16, attnBias: true, mlpBias: true, seed: 3,
			ropeScaling: map[string]any{"type": "linear", "factor": 2.0}}, false},
		{"qwen2-qkv-bias-gqa-tied", tinySpec{modelType: "qwen2", dim: 64, hidden: 128, layers: 2, heads: 8, kvHeads: 2, vocab: 103, tied: true, dtype: model.BF16, seed: 4, ropeTheta: 1e6}, false},
		{"mistral-sliding-window", tinySpec{modelType: "mistral", dim: 64, hidden: 96, layers: 3, heads: 4, kvHeads: 2, vocab: 95, window: 5, seed: 5}, false},
		{"phi3-fused-partial-rotary-window", tinySpec{modelType: "phi3", dim: 64, hidden: 80, layers: 2, heads: 4, kvHeads: 4, vocab: 99, dtype: model.BF16, window: 9, partialRotary: 0.5, seed: 6}, false},
		{"llama-headdim-override", tinySpec{modelType: "llama", dim: 48, headDim: 16, hidden: 64, layers: 1, heads: 4, kvHeads: 2, vocab: 80, seed: 7}, false},

		// Qwen3: q/k norms before RoPE, head_dim ≠ hidden/heads, tied.
		{"qwen3-qknorm-headdim-tied-bf16", tinySpec{modelType: "qwen3", dim: 48, headDim: 16, hidden: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 97, tied: true, dtype: model.BF16, seed: 8, ropeTheta: 1e6}, true},
		{"qwen3-attention-bias-window", tinySpec{modelType: "qwen3", dim: 64, headDim: 32, hidden: 80, layers: 3, heads: 4, kvHeads: 1, vocab: 91, seed: 9,
			extra: map[string]any{"attention_bias": true, "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1}}, true},

		// Gemma 3: 1+w norms (centred on 0 here), four norms per layer,
		// GeGLU, √hidden embedding scale rounded to bf16 (√48 is not a bf16),
		// query_pre_attn_scalar ≠ head_dim, local layers with their own
		// RoPE base, global ones with theta and linear scaling.
		{"gemma3-text-local-global-bf16", tinySpec{modelType: "gemma3_text", dim: 48, headDim: 16, hidden: 96, layers: 4, heads: 4, kvHeads: 2, vocab: 97, tied: true, dtype: model.BF16, seed: 10, ropeTheta: 1e6,
			ropeScaling: map[string]any{"rope_type": "linear", "factor": 4.0},
			extra:       map[string]any{"query_pre_attn_scalar": 24, "rope_local_base_freq": 100.0, "sliding_window": 3, "sliding_window_pattern": 2}}, true},
		// The text model of an image-text gemma3 checkpoint: nested
		// text_config, tensors under language_model.model., a vision tower
		// to ignore, layer_types instead of the pattern.
		{"gemma3-multimodal-checkpoint-f32", tinySpec{modelType: "gemma3", dim: 32, headDim: 8, hidden: 64, layers: 3, heads: 2, kvHeads: 1, vocab: 83, tied: true, seed: 11,
			prefix:     "language_model.model.",
			addTensors: map[string][]int{"vision_tower.vision_model.embeddings.patch_embedding.weight": {4, 3}, "multi_modal_projector.mm_input_projection_weight": {3, 32}},
			extra: map[string]any{"text_config": map[string]any{"model_type": "gemma3_text", "sliding_window": 4,
				"layer_types": []any{"sliding_attention", "full_attention", "sliding_attention"}}}}, true},

		// Mixture of experts. Mixtral: softmax, top-2, always renormalised;
		// block_sparse_moe names; a sliding window.
		{"mixtral-top2-renormalised-window-bf16", tinySpec{modelType: "mixtral", dim: 48, hidden: 40, layers: 2, heads: 4, kvHeads: 2, vocab: 89, dtype: model.BF16, window: 5, seed: 12,
			extra: map[string]any{"num_local_experts": 4, "num_experts_per_tok": 2}}, true},
		// Qwen2-MoE: top-k NOT renormalised, a shared expert behind
		// sigmoid(shared_expert_gate·x), q/k/v biases, and a dense layer
		// (mlp_only_layers) inside the MoE model.
		{"qwen2-moe-shared-expert-unnormalised-dense-layer", tinySpec{modelType: "qwen2_moe", dim: 48, hidden: 56, layers: 3, heads: 4, kvHeads: 4, vocab: 83, seed: 13, ropeTheta: 1e6,
			extra: map[string]any{"num_experts": 6, "num_experts_per_tok": 3, "moe_intermediate_size": 24, "shared_expert_intermediate_size": 40,
				"norm_topk_prob": false, "mlp_only_layers": []any{1}}}, true},
		// Qwen3-MoE: renormalised top-k, q/k norms, head_dim ≠ hidden/heads,
		// every second layer dense (decoder_sparse_step 2).
		{"qwen3-moe-renormalised-qknorm-sparse-step", tinySpec{modelType: "qwen3_moe", dim: 32, headDim: 16, hidden: 48, layers: 4, heads: 4, kvHeads: 2, vocab: 79, dtype: model.BF16, seed: 14, ropeTheta: 1e6,
			extra: map[string]any{"num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 20, "norm_topk_prob": true, "decoder_sparse_step": 2}}, true},
	}
}

// relErr is max|got-want| / max|want|.
func relErr(got []float32, want []float64) float64 {
	var diff, scale float64
	for i, w := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-w))
		scale = math.Max(scale, math.Abs(w))
	}
	return diff / math.Max(scale, 1e-9)
}

const logitTol = 2e-5

// TestForwardMatchesReference compares the engine's logits with the float64
// reference after a batched prefill and after every KV-cached decode step, and
// checks that greedy decoding picks the same tokens for 20 steps.
func TestForwardMatchesReference(t *testing.T) {
	ctx := context.Background()
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			tm := writeTiny(t, v.spec)
			e := tm.open(t, Options{Threads: 2, PrefillChunk: 5})
			rng := rand.New(rand.NewPCG(v.spec.seed, 99))
			ids := make([]int, 7)
			for i := range ids {
				ids[i] = rng.IntN(v.spec.vocab)
			}
			if err := e.forward(ctx, ids); err != nil {
				t.Fatal(err)
			}
			const steps = 20
			worst := 0.0
			defer func() { t.Logf("worst relative logit error %.2g", worst) }()
			reference := tm.refLogits
			if v.hf {
				reference = tm.hfLogits
			}
			for step := 0; ; step++ {
				ref := reference(ids)
				want := ref[len(ref)-1]
				err := relErr(e.logits, want)
				worst = math.Max(worst, err)
				if err > logitTol {
					t.Fatalf("step %d (%d positions): logits differ from the reference by %.3g (relative), tolerance %g", step, len(ids), err, logitTol)
				}
				got, wantTok := argmax(e.logits), argmax64(want)
				if got != wantTok {
					t.Fatalf("step %d: greedy token %d, reference %d", step, got, wantTok)
				}
				if step == steps {
					break
				}
				ids = append(ids, got)
				if err := e.step(ctx, got); err != nil {
					t.Fatal(err)
				}
			}
			// KV-cached decode must equal a full recompute of the same
			// sequence in one batch, on a fresh engine.
			full := tm.open(t, Options{Threads: 2, PrefillChunk: 64})
			if err := full.forward(ctx, ids); err != nil {
				t.Fatal(err)
			}
			var maxDiff, scale float64
			for i := range e.logits {
				maxDiff = math.Max(maxDiff, math.Abs(float64(e.logits[i]-full.logits[i])))
				scale = math.Max(scale, math.Abs(float64(full.logits[i])))
			}
			if maxDiff/scale > 1e-5 {
				t.Fatalf("cached decode and full recompute differ by %.3g (relative)", maxDiff/scale)
			}
			t.Logf("%d positions; cached vs recompute %.2g", len(ids), maxDiff/scale)
		})
	}
}

// TestDTypeLayoutsAgree: the loader (model.DType.Block) and the kernels
// (compute's RowBytes) each keep ggml's block sizes; a matrix of every
// runnable type, three blocks wide, must be as long to both.
func TestDTypeLayoutsAgree(t *testing.T) {
	for _, dt := range []model.DType{model.F32, model.F16, model.BF16, model.Q8_0, model.Q4_0, model.Q4_K, model.Q5_K, model.Q6_K} {
		values, bytes := dt.Block()
		tensor := &model.Tensor{Name: "w", DType: dt, Shape: []int{2, 3 * values}, Data: make([]byte, 2*3*bytes+64)}
		tensor.Data = tensor.Data[:2*3*bytes]
		m, err := matrix(tensor)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if got := m.DType.RowBytes(m.Cols); got != 3*bytes {
			t.Errorf("%s: a row of %d values is %d bytes to the kernels, %d to the loader", dt, 3*values, got, 3*bytes)
		}
	}
}
