package engine

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// hfLogits is the float64 reference for the architectures added after the
// Llama family: Qwen3, Gemma 3 (text) and the Mixture-of-Experts families
// (Mixtral, Qwen2-MoE, Qwen3-MoE). It is written from transformers'
// modeling_qwen3.py, modeling_gemma3.py, modeling_mixtral.py,
// modeling_qwen2_moe.py and modeling_qwen3_moe.py, module by module, and
// reads its hyperparameters from the raw config.json map with those
// files' configuration defaults — never from package model's parsed Config
// or from the engine. No cache: every position is recomputed from scratch.
// It returns the logits of every position.
func (tm *tinyModel) hfLogits(ids []int) [][]float64 {
	raw := tm.raw
	if tc, ok := raw["text_config"].(map[string]any); ok { // gemma3 (multimodal): its text model
		raw = tc
	}
	W := tm.weights
	num := func(key string, def float64) float64 {
		if v, ok := raw[key]; ok && v != nil {
			return toFloat(v)
		}
		return def
	}
	intOf := func(key string, def int) int { return int(num(key, float64(def))) }
	mt := raw["model_type"].(string)
	gemma := mt == "gemma3_text"
	qwen3ish := mt == "qwen3" || mt == "qwen3_moe"

	H := intOf("hidden_size", 0)
	V := intOf("vocab_size", 0)
	L := intOf("num_hidden_layers", 0)
	nh := intOf("num_attention_heads", 0)
	nkv := intOf("num_key_value_heads", nh)
	// head_dim: Qwen3Config and Gemma3TextConfig default it (128, 256);
	// the others fall back to hidden_size / heads.
	hdDefault := H / nh
	switch mt {
	case "qwen3":
		hdDefault = 128
	case "gemma3_text":
		hdDefault = 256
	}
	hd := intOf("head_dim", hdDefault)
	eps := num("rms_norm_eps", 1e-6)
	theta := num("rope_theta", 10000)
	if gemma || mt == "mixtral" { // their config classes default to 1e6
		theta = num("rope_theta", 1e6)
	}
	localTheta := num("rope_local_base_freq", 10000)
	tied := false
	if v, ok := raw["tie_word_embeddings"].(bool); ok {
		tied = v
	} else if gemma {
		tied = true // Gemma3TextConfig's default
	}

	// layer_types (modeling: config.layer_types).
	window := 0
	if v, ok := raw["sliding_window"]; ok && v != nil {
		window = int(toFloat(v))
	}
	if (mt == "qwen3" || mt == "qwen3_moe" || mt == "qwen2_moe") && raw["use_sliding_window"] != true {
		window = 0
	}
	layerTypes := make([]string, L)
	if lt, ok := raw["layer_types"].([]any); ok {
		for i, v := range lt {
			layerTypes[i] = v.(string)
		}
	} else {
		for i := range layerTypes {
			layerTypes[i] = "full_attention"
			switch {
			case gemma:
				pattern := intOf("sliding_window_pattern", 6)
				if (i+1)%pattern != 0 {
					layerTypes[i] = "sliding_attention"
				}
			case mt == "mixtral":
				if window > 0 {
					layerTypes[i] = "sliding_attention"
				}
			case window > 0 && i >= intOf("max_window_layers", L):
				layerTypes[i] = "sliding_attention"
			}
		}
	}

	// Mixture of experts (modeling_*_moe.py).
	nExperts := intOf("num_experts", intOf("num_local_experts", 0))
	topK := intOf("num_experts_per_tok", 2)
	normTopK := mt == "mixtral" // Mixtral always renormalises
	if v, ok := raw["norm_topk_prob"].(bool); ok && mt != "mixtral" {
		normTopK = v
	}
	sparseStep := intOf("decoder_sparse_step", 1)
	var mlpOnly []int
	if v, ok := raw["mlp_only_layers"].([]any); ok {
		for _, x := range v {
			mlpOnly = append(mlpOnly, int(toFloat(x)))
		}
	}
	isMoE := func(l int) bool {
		if nExperts == 0 {
			return false
		}
		if mt == "mixtral" {
			return true
		}
		return !slices.Contains(mlpOnly, l) && (l+1)%sparseStep == 0
	}

	matvec := func(name string, rows, cols int, x []float64) []float64 {
		w, ok := W[name]
		if !ok {
			panic("reference: no tensor " + name)
		}
		if len(w) != rows*cols {
			panic(fmt.Sprintf("reference: %s has %d elements, want %d×%d", name, len(w), rows, cols))
		}
		out := make([]float64, rows)
		for r := range rows {
			for k := range cols {
				out[r] += w[r*cols+k] * x[k]
			}
		}
		if b, ok := W[name[:len(name)-len("weight")]+"bias"]; ok {
			for r := range out {
				out[r] += b[r]
			}
		}
		return out
	}
	// RMSNorm: Llama-style x·rsqrt(mean(x²)+eps)·w, Gemma's ·(1+w).
	rmsnorm := func(x []float64, name string) []float64 {
		w := W[name]
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
		out := make([]float64, len(x))
		for i := range x {
			scale := w[i]
			if gemma {
				scale = 1 + w[i]
			}
			out[i] = x[i] * inv * scale
		}
		return out
	}
	act := func(g float64) float64 {
		if gemma { // gelu_pytorch_tanh
			return 0.5 * g * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(g+0.044715*g*g*g)))
		}
		return g / (1 + math.Exp(-g)) // silu
	}
	// mlp is gate/up/down with the family's projection names.
	mlp := func(prefix, gate, up, down string, inter int, x []float64) []float64 {
		g := matvec(prefix+gate+".weight", inter, H, x)
		u := matvec(prefix+up+".weight", inter, H, x)
		for i := range g {
			g[i] = act(g[i]) * u[i]
		}
		return matvec(prefix+down+".weight", H, inter, g)
	}
	// rope_scaling (only "linear" here): Gemma 3 applies it to its full
	// layers only, the others to every layer.
	linear := 1.0
	if rs, ok := raw["rope_scaling"].(map[string]any); ok {
		if rs["rope_type"] != "linear" && rs["type"] != "linear" {
			panic(fmt.Sprintf("reference: rope_scaling %v", rs))
		}
		linear = toFloat(rs["factor"])
	}
	rope := func(v []float64, pos int, base, factor float64) { // rotate_half over the whole head
		half := hd / 2
		out := slices.Clone(v)
		for i := range half {
			f := 1 / math.Pow(base, float64(2*i)/float64(hd)) / factor
			cs, sn := math.Cos(float64(pos)*f), math.Sin(float64(pos)*f)
			out[i] = v[i]*cs - v[i+half]*sn
			out[i+half] = v[i+half]*cs + v[i]*sn
		}
		copy(v, out)
	}

	T := len(ids)
	x := make([][]float64, T)
	emb := W["model.embed_tokens.weight"]
	embScale := 1.0
	if gemma { // Gemma3TextScaledWordEmbedding: sqrt(hidden) cast to the weight dtype
		embScale = tm.roundToDType(math.Sqrt(float64(H)))
	}
	for t, id := range ids {
		x[t] = make([]float64, H)
		for i := range H {
			x[t][i] = emb[id*H+i] * embScale
		}
	}

	for l := range L {
		p := fmt.Sprintf("model.layers.%d.", l)
		sliding := layerTypes[l] == "sliding_attention"
		base, factor := theta, linear
		if gemma && sliding {
			base, factor = localTheta, 1
		}
		scaling := 1 / math.Sqrt(float64(hd))
		if gemma {
			scaling = 1 / math.Sqrt(num("query_pre_attn_scalar", 256))
		}

		// Self-attention; q/k norms come before RoPE.
		qs, ks, vs := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range T {
			h := rmsnorm(x[t], p+"input_layernorm.weight")
			qs[t] = matvec(p+"self_attn.q_proj.weight", nh*hd, H, h)
			ks[t] = matvec(p+"self_attn.k_proj.weight", nkv*hd, H, h)
			vs[t] = matvec(p+"self_attn.v_proj.weight", nkv*hd, H, h)
			for hh := range nh {
				q := qs[t][hh*hd : (hh+1)*hd]
				if qwen3ish || gemma {
					copy(q, rmsnorm(q, p+"self_attn.q_norm.weight"))
				}
				rope(q, t, base, factor)
			}
			for hh := range nkv {
				k := ks[t][hh*hd : (hh+1)*hd]
				if qwen3ish || gemma {
					copy(k, rmsnorm(k, p+"self_attn.k_norm.weight"))
				}
				rope(k, t, base, factor)
			}
		}
		attnOut := make([][]float64, T)
		for t := range T {
			att := make([]float64, nh*hd)
			for hh := range nh {
				kvh := hh / (nh / nkv)
				var scores []float64
				var js []int
				for j := 0; j <= t; j++ {
					if sliding && window > 0 && j <= t-window {
						continue
					}
					var d float64
					for k := range hd {
						d += qs[t][hh*hd+k] * ks[j][kvh*hd+k]
					}
					scores = append(scores, d*scaling)
					js = append(js, j)
				}
				probs := softmax64(scores)
				for i, j := range js {
					for k := range hd {
						att[hh*hd+k] += probs[i] * vs[j][kvh*hd+k]
					}
				}
			}
			attnOut[t] = matvec(p+"self_attn.o_proj.weight", H, nh*hd, att)
		}

		for t := range T {
			o := attnOut[t]
			if gemma {
				o = rmsnorm(o, p+"post_attention_layernorm.weight")
			}
			for i := range o {
				x[t][i] += o[i]
			}
			var h []float64
			if gemma {
				h = rmsnorm(x[t], p+"pre_feedforward_layernorm.weight")
			} else {
				h = rmsnorm(x[t], p+"post_attention_layernorm.weight")
			}

			var out []float64
			switch {
			case isMoE(l) && mt == "mixtral":
				out = moe64(h, matvec(p+"block_sparse_moe.gate.weight", nExperts, H, h), topK, true,
					func(e int) []float64 {
						return mlp(fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e), "w1", "w3", "w2", intOf("intermediate_size", 0), h)
					})
			case isMoE(l):
				out = moe64(h, matvec(p+"mlp.gate.weight", nExperts, H, h), topK, normTopK,
					func(e int) []float64 {
						return mlp(fmt.Sprintf("%smlp.experts.%d.", p, e), "gate_proj", "up_proj", "down_proj", intOf("moe_intermediate_size", 0), h)
					})
				if mt == "qwen2_moe" { // shared expert, gated by sigmoid(shared_expert_gate · h)
					shared := mlp(p+"mlp.shared_expert.", "gate_proj", "up_proj", "down_proj", intOf("shared_expert_intermediate_size", 0), h)
					g := 1 / (1 + math.Exp(-matvec(p+"mlp.shared_expert_gate.weight", 1, H, h)[0]))
					for i := range out {
						out[i] += g * shared[i]
					}
				}
			default:
				out = mlp(p+"mlp.", "gate_proj", "up_proj", "down_proj", intOf("intermediate_size", 0), h)
			}
			if gemma {
				out = rmsnorm(out, p+"post_feedforward_layernorm.weight")
			}
			for i := range out {
				x[t][i] += out[i]
			}
		}
	}

	head := W["lm_head.weight"]
	if tied {
		head = emb
	}
	out := make([][]float64, T)
	for t := range T {
		h := rmsnorm(x[t], "model.norm.weight")
		out[t] = make([]float64, V)
		for r := range V {
			for k := range H {
				out[t][r] += head[r*H+k] * h[k]
			}
		}
	}
	return out
}

// moe64 is a sparse MoE block for one position (MixtralSparseMoeBlock,
// Qwen2MoeSparseMoeBlock, Qwen3MoeSparseMoeBlock): softmax over all
// router logits, the top-k probabilities, renormalised to sum 1 when
// normTopK, then the weighted sum of the chosen experts' outputs.
func moe64(h, logits []float64, topK int, normTopK bool, expert func(e int) []float64) []float64 {
	probs := softmax64(logits)
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
	chosen := order[:topK]
	var sum float64
	for _, e := range chosen {
		sum += probs[e]
	}
	out := make([]float64, len(h))
	for _, e := range chosen {
		w := probs[e]
		if normTopK {
			w /= sum
		}
		for i, v := range expert(e) {
			out[i] += w * v
		}
	}
	return out
}

func softmax64(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case float32:
		return float64(x)
	}
	panic(fmt.Sprintf("reference: %v (%T) is not a number", v, v))
}
