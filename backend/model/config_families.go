package model

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Gemma holds what Gemma 3 (modeling_gemma3.py) does differently from the
// Llama block. The zero value means a Llama-style model.
type Gemma struct {
	// On: RMSNorm scales by (1 + weight); embeddings are multiplied by
	// sqrt(hidden_size) cast to the weight dtype; each layer has four norms
	// (input_layernorm, post_attention_layernorm on the attention output,
	// pre_feedforward_layernorm and post_feedforward_layernorm around the
	// MLP); the MLP is GeGLU with tanh-approximated GELU.
	On bool
	// QueryPreAttnScalar sets the attention scale to its -1/2 power
	// (query_pre_attn_scalar, default 256) instead of head_dim's.
	QueryPreAttnScalar float64
	// LocalRopeTheta is the RoPE base of sliding (local) layers
	// (rope_local_base_freq, default 10000). RopeTheta and RopeScaling
	// apply to the full (global) layers only.
	LocalRopeTheta float64
	// Multimodal: the config is a gemma3 (image-text) one whose
	// text_config this Config describes; its checkpoint stores the text
	// model under language_model and a vision tower that is ignored.
	Multimodal bool
}

// MoE describes the sparse mixture-of-experts MLP blocks of Mixtral
// (block_sparse_moe), Qwen2-MoE and Qwen3-MoE (mlp with a router gate).
type MoE struct {
	Experts      int // experts per MoE layer (num_experts / num_local_experts)
	TopK         int // experts chosen per token (num_experts_per_tok)
	Intermediate int // each expert's MLP width
	// SharedIntermediate is the width of Qwen2-MoE's shared expert, which
	// every token runs and which is gated by sigmoid(shared_expert_gate·x);
	// 0 when there is none.
	SharedIntermediate int
	// NormTopKProb: the chosen experts' softmax probabilities are
	// renormalised to sum to 1 (Mixtral always; Qwen from norm_topk_prob).
	NormTopKProb bool
	// DenseLayers lists the layers whose MLP is dense (intermediate_size
	// wide) inside the MoE model (Qwen's mlp_only_layers and
	// decoder_sparse_step), ascending.
	DenseLayers []int
	// Mixtral: tensors are block_sparse_moe.gate and
	// block_sparse_moe.experts.N.w1 (gate) / w3 (up) / w2 (down); else
	// mlp.gate and mlp.experts.N.gate_proj / up_proj / down_proj.
	Mixtral bool
}

// IsMoELayer reports whether layer i's MLP is a mixture of experts.
func (c *Config) IsMoELayer(i int) bool {
	return c.MoE != nil && !slices.Contains(c.MoE.DenseLayers, i)
}

// HasSharedExpert reports whether the MoE layers have a shared expert.
func (c *Config) HasSharedExpert() bool { return c.MoE != nil && c.MoE.SharedIntermediate > 0 }

func (c *Config) isGemma3() bool { return c.ModelType == "gemma3_text" || c.ModelType == "gemma3" }

// rawFamilyKeys are the config.json keys of Gemma 3 and the MoE families.
type rawFamilyKeys struct {
	HiddenActivation          *string         `json:"hidden_activation"`
	QueryPreAttnScalar        *float64        `json:"query_pre_attn_scalar"`
	RopeLocalBaseFreq         *float64        `json:"rope_local_base_freq"`
	SlidingWindowPattern      *int            `json:"sliding_window_pattern"`
	FinalLogitSoftcapping     json.RawMessage `json:"final_logit_softcapping"`
	AttnLogitSoftcapping      json.RawMessage `json:"attn_logit_softcapping"`
	UseBidirectionalAttention *bool           `json:"use_bidirectional_attention"`
	TextConfig                json.RawMessage `json:"text_config"`
	QKVBias                   *bool           `json:"qkv_bias"`

	NumExperts                   *int  `json:"num_experts"`
	NumLocalExperts              *int  `json:"num_local_experts"`
	NumExpertsPerTok             *int  `json:"num_experts_per_tok"`
	MoEIntermediateSize          *int  `json:"moe_intermediate_size"`
	SharedExpertIntermediateSize *int  `json:"shared_expert_intermediate_size"`
	NormTopKProb                 *bool `json:"norm_topk_prob"`
	DecoderSparseStep            *int  `json:"decoder_sparse_step"`
	MLPOnlyLayers                []int `json:"mlp_only_layers"`

	multimodal bool // set by unwrapTextConfig
}

// familyDefaultsMore are the config-class defaults of the families in this
// file (configuration_gemma3.py, configuration_mixtral.py,
// configuration_qwen2_moe.py, configuration_qwen3_moe.py).
func familyDefaultsMore(modelType string) (familyDefaults, bool) {
	switch modelType {
	case "gemma3_text", "gemma3":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 131072, headDim: 256, act: "gelu_pytorch_tanh", ropeTheta: 1e6,
			shape: map[string]int{"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
				"num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4}}, true
	case "mixtral":
		return familyDefaults{rmsNormEps: 1e-5, maxPos: 4096 * 32, ropeTheta: 1e6, shape: map[string]int{"num_key_value_heads": 8}}, true
	case "qwen2_moe":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 32768, shape: map[string]int{"num_key_value_heads": 16}}, true
	case "qwen3_moe":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 32768, shape: map[string]int{"num_key_value_heads": 4}}, true
	}
	return familyDefaults{}, false
}

// unwrapTextConfig replaces a gemma3 (image-text) config by its
// text_config, keeping the top-level keys that describe the whole
// checkpoint (dtype, token ids, tied embeddings) when the text config
// lacks them.
func unwrapTextConfig(raw *rawConfig) error {
	if isNull(raw.TextConfig) {
		return fmt.Errorf("model_type gemma3 without a text_config object: point at a Gemma 3 checkpoint's own config.json")
	}
	var text rawConfig
	if err := json.Unmarshal(raw.TextConfig, &text); err != nil {
		return fmt.Errorf("text_config: want an object: %w", err)
	}
	if text.ModelType != "" && text.ModelType != "gemma3_text" {
		return fmt.Errorf("text_config.model_type is %q, want gemma3_text", text.ModelType)
	}
	text.ModelType = "gemma3"
	text.Architectures = raw.Architectures
	text.multimodal = true
	if text.TorchDType == nil && text.DType == nil {
		text.TorchDType, text.DType = raw.TorchDType, raw.DType
	}
	if len(text.BOSTokenID) == 0 {
		text.BOSTokenID = raw.BOSTokenID
	}
	if len(text.EOSTokenID) == 0 {
		text.EOSTokenID = raw.EOSTokenID
	}
	if text.TieWordEmbeddings == nil {
		text.TieWordEmbeddings = raw.TieWordEmbeddings
	}
	*raw = text
	return nil
}

// parseGemma fills Config.Gemma for Gemma 3 and checks for the options this
// engine does not implement.
func (c *Config) parseGemma(raw rawConfig) error {
	if !c.isGemma3() {
		return nil
	}
	if raw.TieWordEmbeddings == nil {
		c.TieWordEmbeddings = true // Gemma3TextConfig's default
	}
	c.Gemma.On = true
	c.Gemma.Multimodal = raw.multimodal
	c.Gemma.QueryPreAttnScalar = 256
	if raw.QueryPreAttnScalar != nil {
		c.Gemma.QueryPreAttnScalar = *raw.QueryPreAttnScalar
		if !(c.Gemma.QueryPreAttnScalar > 0) {
			return fmt.Errorf("query_pre_attn_scalar is %g, want a positive number", c.Gemma.QueryPreAttnScalar)
		}
	}
	for _, cap := range []struct {
		key string
		v   json.RawMessage
	}{{"final_logit_softcapping", raw.FinalLogitSoftcapping}, {"attn_logit_softcapping", raw.AttnLogitSoftcapping}} {
		if !isNull(cap.v) {
			return fmt.Errorf("%s is %s: logit soft-capping (Gemma 2) is not supported; Gemma 3 sets it to null", cap.key, cap.v)
		}
	}
	if raw.UseBidirectionalAttention != nil && *raw.UseBidirectionalAttention {
		return fmt.Errorf("use_bidirectional_attention is true: this is an embedding model (EmbeddingGemma), not a text generator")
	}
	return nil
}

// parseGemmaRope reads Gemma 3's two RoPE setups: rope_theta and
// rope_scaling for the full layers and rope_local_base_freq for the
// sliding ones, or transformers 5's rope_parameters keyed by layer type.
// It returns the dict that applies to the full layers.
func (c *Config) parseGemmaRope(raw rawConfig, key string, dict json.RawMessage) (json.RawMessage, error) {
	c.Gemma.LocalRopeTheta = 10000
	if raw.RopeLocalBaseFreq != nil {
		c.Gemma.LocalRopeTheta = *raw.RopeLocalBaseFreq
	}
	if key != "rope_parameters" {
		return dict, nil
	}
	var perType map[string]json.RawMessage
	if err := json.Unmarshal(dict, &perType); err != nil {
		return nil, fmt.Errorf("rope_parameters: want an object: %w", err)
	}
	full, hasFull := perType["full_attention"]
	local, hasLocal := perType["sliding_attention"]
	if !hasFull && !hasLocal {
		return dict, nil // one dict for every layer type
	}
	if hasLocal && !isNull(local) {
		var params map[string]json.RawMessage
		if err := json.Unmarshal(local, &params); err != nil {
			return nil, fmt.Errorf("rope_parameters.sliding_attention: want an object: %w", err)
		}
		partial := 1.0
		theta := c.Gemma.LocalRopeTheta
		s, err := parseRopeDict("rope_parameters.sliding_attention", params, &theta, &partial)
		if err != nil {
			return nil, err
		}
		if s != nil || partial != 1 {
			return nil, fmt.Errorf("rope_parameters.sliding_attention: only default RoPE is supported on sliding layers")
		}
		c.Gemma.LocalRopeTheta = theta
	}
	if !(c.Gemma.LocalRopeTheta > 0) {
		return nil, fmt.Errorf("rope_local_base_freq is %g, want a positive number", c.Gemma.LocalRopeTheta)
	}
	return full, nil
}

// parseGemmaWindows resolves Gemma 3's interleaved local and global layers:
// layer_types when given, else the older sliding_window_pattern (default
// 6): layer i is sliding unless (i+1) is a multiple of the pattern.
func (c *Config) parseGemmaWindows(raw rawConfig, window int) error {
	if raw.SlidingWindow == nil {
		window = 4096 // Gemma3TextConfig's default
	}
	c.SlidingWindow = window
	c.LayerTypes = make([]string, c.NumLayers)
	if raw.LayerTypes != nil {
		if len(raw.LayerTypes) != c.NumLayers {
			return fmt.Errorf("layer_types has %d entries, want num_hidden_layers (%d)", len(raw.LayerTypes), c.NumLayers)
		}
		for i, t := range raw.LayerTypes {
			if t != "full_attention" && t != "sliding_attention" {
				return fmt.Errorf("layer_types[%d] is %q (supported: full_attention, sliding_attention)", i, t)
			}
			c.LayerTypes[i] = t
		}
	} else {
		pattern := 6
		if raw.SlidingWindowPattern != nil {
			pattern = *raw.SlidingWindowPattern
		}
		if pattern <= 0 {
			return fmt.Errorf("sliding_window_pattern is %d, want a positive integer", pattern)
		}
		for i := range c.LayerTypes {
			c.LayerTypes[i] = "full_attention"
			if (i+1)%pattern != 0 {
				c.LayerTypes[i] = "sliding_attention"
			}
		}
	}
	if window <= 0 && slices.Contains(c.LayerTypes, "sliding_attention") {
		return fmt.Errorf("sliding layers need a positive sliding_window (got %d)", window)
	}
	return nil
}

// parseMoE fills Config.MoE for the mixture-of-experts families.
func (c *Config) parseMoE(raw rawConfig) error {
	switch c.ModelType {
	case "mixtral", "qwen2_moe", "qwen3_moe":
	default:
		return nil
	}
	m := &MoE{Mixtral: c.ModelType == "mixtral"}
	experts := raw.NumExperts
	if experts == nil {
		experts = raw.NumLocalExperts
	}
	def := map[string]int{"mixtral": 8, "qwen2_moe": 60, "qwen3_moe": 128}[c.ModelType]
	m.Experts = def
	if experts != nil {
		m.Experts = *experts
	}
	m.TopK = map[string]int{"mixtral": 2, "qwen2_moe": 4, "qwen3_moe": 8}[c.ModelType]
	if raw.NumExpertsPerTok != nil {
		m.TopK = *raw.NumExpertsPerTok
	}
	if m.Experts <= 0 {
		return fmt.Errorf("num_experts is %d, want a positive integer", m.Experts)
	}
	if m.TopK <= 0 || m.TopK > m.Experts {
		return fmt.Errorf("num_experts_per_tok is %d, want 1 … num_experts (%d)", m.TopK, m.Experts)
	}
	switch c.ModelType {
	case "mixtral":
		// Every expert is intermediate_size wide; routing is always renormalised.
		m.Intermediate, m.NormTopKProb = c.IntermediateSize, true
	default:
		m.Intermediate = map[string]int{"qwen2_moe": 1408, "qwen3_moe": 768}[c.ModelType]
		if raw.MoEIntermediateSize != nil {
			m.Intermediate = *raw.MoEIntermediateSize
		}
		if m.Intermediate <= 0 {
			return fmt.Errorf("moe_intermediate_size is %d, want a positive integer", m.Intermediate)
		}
		m.NormTopKProb = raw.NormTopKProb != nil && *raw.NormTopKProb
		step := 1
		if raw.DecoderSparseStep != nil {
			step = *raw.DecoderSparseStep
		}
		if step <= 0 {
			return fmt.Errorf("decoder_sparse_step is %d, want a positive integer", step)
		}
		for i := range c.NumLayers {
			// Qwen2MoeDecoderLayer / Qwen3MoeDecoderLayer: a layer is sparse
			// unless listed in mlp_only_layers or off the sparse step.
			if slices.Contains(raw.MLPOnlyLayers, i) || (i+1)%step != 0 {
				m.DenseLayers = append(m.DenseLayers, i)
			}
		}
		for _, l := range raw.MLPOnlyLayers {
			if l < 0 || l >= c.NumLayers {
				return fmt.Errorf("mlp_only_layers lists layer %d; the model has %d layers", l, c.NumLayers)
			}
		}
	}
	if c.ModelType == "qwen2_moe" {
		m.SharedIntermediate = 5632 // Qwen2MoeConfig's default
		if raw.SharedExpertIntermediateSize != nil {
			m.SharedIntermediate = *raw.SharedExpertIntermediateSize
		}
		if m.SharedIntermediate <= 0 {
			return fmt.Errorf("shared_expert_intermediate_size is %d, want a positive integer (Qwen2-MoE always has a shared expert)", m.SharedIntermediate)
		}
	}
	c.MoE = m
	return nil
}
