package model

import "fmt"

// Facts are the architecture facts the profiler reports for a model. They
// come from config.json alone (Config.Facts); Model.Facts adds what the
// weights tell (their dtype and byte size) after cross-checking the counts.
type Facts struct {
	ModelType    string `json:"model_type"`
	Architecture string `json:"architecture,omitempty"`
	// Attention is "MHA", "GQA" or "MQA".
	Attention             string `json:"attention"`
	Layers                int    `json:"layers"`
	Hidden                int    `json:"hidden"`
	Heads                 int    `json:"heads"`
	KVHeads               int    `json:"kv_heads"`
	HeadDim               int    `json:"head_dim"`
	Intermediate          int    `json:"intermediate"`
	Vocab                 int    `json:"vocab"`
	MaxPositionEmbeddings int    `json:"max_position_embeddings"`
	// DType is the stored weight type ("BF16", ...): the weights' own when
	// they are present, else config.json's; "unknown" when neither says.
	DType          string  `json:"dtype"`
	DTypeSource    string  `json:"dtype_source"`
	TiedEmbeddings bool    `json:"tied_embeddings"`
	FusedQKV       bool    `json:"fused_qkv"`
	FusedGateUp    bool    `json:"fused_gate_up"`
	QKVBias        bool    `json:"qkv_bias"`
	QKNorm         bool    `json:"qk_norm,omitempty"`
	RopeTheta      float64 `json:"rope_theta"`
	RopeScaling    string  `json:"rope_scaling"`
	RotaryDim      int     `json:"rotary_dim"`
	SlidingWindow  int     `json:"sliding_window,omitempty"`
	SlidingLayers  int     `json:"sliding_layers,omitempty"`

	// Activation is the MLP's: "silu" (SwiGLU) or "gelu_pytorch_tanh"
	// (GeGLU, Gemma 3).
	Activation string `json:"activation"`
	// Gemma 3: norms scale by 1+w, four norms per layer, embeddings scaled
	// by sqrt(hidden); sliding layers use LocalRopeTheta.
	Gemma          bool    `json:"gemma,omitempty"`
	LocalRopeTheta float64 `json:"local_rope_theta,omitempty"`

	// Mixture of experts; all zero for a dense model. MoELayers of Layers
	// route each token to TopK of Experts experts; SharedExperts (0 or 1)
	// run for every token.
	MoE                bool `json:"moe"`
	Experts            int  `json:"experts,omitempty"`
	TopK               int  `json:"top_k,omitempty"`
	SharedExperts      int  `json:"shared_experts,omitempty"`
	MoELayers          int  `json:"moe_layers,omitempty"`
	ExpertIntermediate int  `json:"expert_intermediate,omitempty"`
	NormTopKProb       bool `json:"norm_topk_prob,omitempty"`

	// ParamsTotal counts every stored parameter (tied embeddings once).
	ParamsTotal int64 `json:"params_total"`
	// ParamsActive is what one token uses: ParamsTotal less the routed
	// experts it is not sent to (TopK of Experts per MoE layer), the
	// convention behind published figures such as Mixtral's 12.9B of 46.7B.
	// It equals ParamsTotal for a dense model.
	ParamsActive int64 `json:"params_active"`
	// ParamsEmbedding is embed_tokens (V×H) plus lm_head (V×H) when untied.
	ParamsEmbedding    int64 `json:"params_embedding"`
	ParamsNonEmbedding int64 `json:"params_non_embedding"`
	// WeightBytes is ParamsTotal at the stored width (or the weights' real
	// byte size when present); omitted when the dtype is unknown.
	WeightBytes int64 `json:"weight_bytes,omitempty"`

	// KVCacheBytesPerToken is K and V for every layer and KV head:
	// 2 × layers × kv_heads × head_dim × width, at KVCacheDType's width
	// (the stored weight dtype); omitted when the dtype is unknown.
	KVCacheBytesPerToken int64  `json:"kv_cache_bytes_per_token,omitempty"`
	KVCacheDType         string `json:"kv_cache_dtype"`

	// FLOPs to generate one token attending to c positions (itself
	// included): FLOPsPerTokenBase + c × FLOPsPerContextToken, with c capped
	// at the window on sliding layers (see FLOPsPerToken).
	FLOPsPerTokenBase    int64  `json:"flops_per_token_base"`
	FLOPsPerContextToken int64  `json:"flops_per_context_token"`
	FLOPsFormula         string `json:"flops_formula"`

	// TensorTypes is the stored type of each tensor role (q_proj, mlp
	// down_proj, ...), summed over layers: quantized files mix types.
	// Present only when the weights were read.
	TensorTypes []TensorGroup `json:"tensor_types,omitempty"`
	// WeightBytesPerToken is the weight bytes one decode step reads (every
	// layer matrix and lm_head), from the stored tensors; 0 when the weights
	// were not read.
	WeightBytesPerToken int64 `json:"weight_bytes_per_token,omitempty"`

	WeightsPresent bool `json:"weights_present"`
	// Source says where the facts came from.
	Source string `json:"source"`
}

// TensorGroup is one tensor role's stored types.
type TensorGroup struct {
	Group         string         `json:"group"` // e.g. "self_attn.q_proj", "embed_tokens"-style names
	Types         map[string]int `json:"types"` // tensor count per stored type ("Q4_K": 12)
	Params        int64          `json:"params"`
	Bytes         int64          `json:"bytes"`
	BitsPerWeight float64        `json:"bits_per_weight"`
}

// flopsFormula documents FLOPsPerTokenBase and FLOPsPerContextToken.
const flopsFormula = "flops(c) = base + c × per_context_token; " +
	"base = 2 × (layers × (H·nh·hd + 2·H·nkv·hd + nh·hd·H + 3·H·I) + V·H): a multiply-add per weight of every matmul, lm_head included " +
	"(in an MoE layer 3·H·I becomes the router E·H plus top-k experts' 3·H·I_expert plus the shared expert's 3·H·I_shared + H), " +
	"embedding lookup, norms, biases, RoPE and softmax excluded; " +
	"per_context_token = layers × 4·nh·hd: q·k scores and the probability-weighted sum of v for each attended position; " +
	"c = positions attended, capped at sliding_window on sliding layers"

// Facts derives the architecture facts from the config alone.
func (c *Config) Facts() Facts {
	f := Facts{
		ModelType:             c.ModelType,
		Attention:             c.AttentionKind(),
		Layers:                c.NumLayers,
		Hidden:                c.HiddenSize,
		Heads:                 c.NumHeads,
		KVHeads:               c.NumKVHeads,
		HeadDim:               c.HeadDim,
		Intermediate:          c.IntermediateSize,
		Vocab:                 c.VocabSize,
		MaxPositionEmbeddings: c.MaxPositionEmbeddings,
		TiedEmbeddings:        c.TieWordEmbeddings,
		FusedQKV:              c.FusedQKV,
		FusedGateUp:           c.FusedGateUp,
		QKVBias:               c.QKVBias,
		QKNorm:                c.QKNorm,
		Activation:            c.HiddenAct,
		Gemma:                 c.Gemma.On,
		LocalRopeTheta:        c.Gemma.LocalRopeTheta,
		RopeTheta:             c.RopeTheta,
		RopeScaling:           "none",
		RotaryDim:             c.RotaryDim(),
		FLOPsFormula:          flopsFormula,
		Source:                "config.json",
	}
	if len(c.Architectures) > 0 {
		f.Architecture = c.Architectures[0]
	}
	if s := c.RopeScaling; s != nil {
		f.RopeScaling = fmt.Sprintf("%s ×%g", s.Type, s.Factor)
	}
	if len(c.RopeFreqFactors) > 0 {
		f.RopeScaling = "per-frequency factors (GGUF rope_freqs)"
	}
	for i := range c.NumLayers {
		if w := c.LayerWindow(i); w > 0 {
			f.SlidingWindow = w
			f.SlidingLayers++
		}
	}

	var routed int64 // parameters of every routed expert
	for _, s := range c.ExpectedTensors() {
		n := s.Elements()
		f.ParamsTotal += n
		if s.Name == EmbeddingName || s.Name == LMHeadName {
			f.ParamsEmbedding += n
		}
		if s.Routed {
			routed += n
		}
	}
	f.ParamsNonEmbedding = f.ParamsTotal - f.ParamsEmbedding
	f.ParamsActive = f.ParamsTotal

	H, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	nh, nkv, hd := int64(c.NumHeads), int64(c.NumKVHeads), int64(c.HeadDim)
	L := int64(c.NumLayers)
	attnMatmul := H*nh*hd + 2*H*nkv*hd + nh*hd*H
	f.FLOPsPerTokenBase = 2 * (L*(attnMatmul+3*H*I) + V*H)
	if m := c.MoE; m != nil {
		f.MoE, f.Experts, f.TopK, f.ExpertIntermediate, f.NormTopKProb = true, m.Experts, m.TopK, m.Intermediate, m.NormTopKProb
		if m.SharedIntermediate > 0 {
			f.SharedExperts = 1
		}
		f.MoELayers = c.NumLayers - len(m.DenseLayers)
		// A token reads top_k of the experts of every MoE layer.
		f.ParamsActive = f.ParamsTotal - routed + routed/int64(m.Experts)*int64(m.TopK)
		moe := int64(f.MoELayers)
		moeMatmul := int64(m.Experts)*H + int64(m.TopK)*3*H*int64(m.Intermediate)
		if m.SharedIntermediate > 0 {
			moeMatmul += 3*H*int64(m.SharedIntermediate) + H
		}
		f.FLOPsPerTokenBase = 2 * (L*attnMatmul + (L-moe)*3*H*I + moe*moeMatmul + V*H)
	}
	f.FLOPsPerContextToken = L * 4 * nh * hd

	f.setDType(c.DType, "config.json")
	return f
}

// setDType records the stored dtype and the byte sizes that follow from it.
func (f *Facts) setDType(dt DType, source string) {
	if dt == Unknown {
		f.DType, f.DTypeSource = "unknown", "config.json names no torch_dtype/dtype"
		f.KVCacheDType = "unknown"
		f.WeightBytes, f.KVCacheBytesPerToken = 0, 0
		return
	}
	f.DType, f.DTypeSource = string(dt), source
	f.KVCacheDType = string(dt)
	f.WeightBytes = f.ParamsTotal * int64(dt.Size())
	f.KVCacheBytesPerToken = 2 * int64(f.Layers) * int64(f.KVHeads) * int64(f.HeadDim) * int64(dt.Size())
}

// FLOPsPerToken is the FLOPs to generate one token that attends to context
// positions (itself included), capping the context at the window on
// sliding layers.
func (f Facts) FLOPsPerToken(context int) int64 {
	if f.Layers == 0 {
		return f.FLOPsPerTokenBase
	}
	perLayer := f.FLOPsPerContextToken / int64(f.Layers)
	full := int64(f.Layers - f.SlidingLayers)
	attended := full * int64(context)
	if f.SlidingLayers > 0 {
		attended += int64(f.SlidingLayers) * int64(min(context, f.SlidingWindow))
	}
	return f.FLOPsPerTokenBase + perLayer*attended
}
