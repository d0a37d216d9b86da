package model

import "fmt"

// TensorSpec is a tensor the architecture needs: its Hugging Face name and
// shape ([out, in] for projection weights, as PyTorch's nn.Linear stores
// them).
type TensorSpec struct {
	Name  string
	Shape []int
	// Routed marks a tensor of routed expert Expert of an MoE layer: a
	// token reads it only when the router picks that expert.
	Routed bool
	Expert int
}

// Elements is the product of the shape.
func (s TensorSpec) Elements() int64 { return shapeElements(s.Shape) }

// Tensor names shared by the supported families.
const (
	EmbeddingName = "model.embed_tokens.weight"
	FinalNormName = "model.norm.weight"
	LMHeadName    = "lm_head.weight"
)

// layerPrefix is the name prefix of decoder layer i's tensors.
func layerPrefix(i int) string { return fmt.Sprintf("model.layers.%d.", i) }

// Names of one layer's tensors, relative to layerPrefix.
const (
	inputNormSuffix    = "input_layernorm.weight"
	postAttnNormSuffix = "post_attention_layernorm.weight"
	qkvSuffix          = "self_attn.qkv_proj.weight"
	qNormSuffix        = "self_attn.q_norm.weight"
	kNormSuffix        = "self_attn.k_norm.weight"
	gateUpSuffix       = "mlp.gate_up_proj.weight"
	preFFNormSuffix    = "pre_feedforward_layernorm.weight"  // Gemma 3
	postFFNormSuffix   = "post_feedforward_layernorm.weight" // Gemma 3
)

// MoE tensor names, relative to layerPrefix: Mixtral's block_sparse_moe
// with w1 (gate), w3 (up) and w2 (down), or Qwen's mlp with gate_proj,
// up_proj and down_proj, a shared expert and its sigmoid gate.
func routerSuffix(c *Config) string {
	if c.MoE.Mixtral {
		return "block_sparse_moe.gate.weight"
	}
	return "mlp.gate.weight"
}

// expertSuffixes are expert e's gate, up and down projection names.
func expertSuffixes(c *Config, e int) (gate, up, down string) {
	if c.MoE.Mixtral {
		p := fmt.Sprintf("block_sparse_moe.experts.%d.", e)
		return p + "w1.weight", p + "w3.weight", p + "w2.weight"
	}
	p := fmt.Sprintf("mlp.experts.%d.", e)
	return p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight"
}

const (
	sharedExpertPrefix     = "mlp.shared_expert."
	sharedExpertGateSuffix = "mlp.shared_expert_gate.weight"
)

func projSuffix(block, proj, kind string) string { return block + "." + proj + "_proj." + kind }

// ExpectedTensors lists every tensor the architecture stores, in model
// order: the embedding, each layer, the final norm, and lm_head unless the
// embeddings are tied. The parameter counts in Facts are sums over this
// list, so it is also the contract the weights are checked against.
func (c *Config) ExpectedTensors() []TensorSpec {
	H, I, V := c.HiddenSize, c.IntermediateSize, c.VocabSize
	qRows, kvRows := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	specs := []TensorSpec{{Name: EmbeddingName, Shape: []int{V, H}}}
	for i := range c.NumLayers {
		p := layerPrefix(i)
		add := func(suffix string, shape ...int) { specs = append(specs, TensorSpec{Name: p + suffix, Shape: shape}) }
		add(inputNormSuffix, H)
		if c.FusedQKV {
			add(qkvSuffix, qRows+2*kvRows, H)
		} else {
			add(projSuffix("self_attn", "q", "weight"), qRows, H)
			add(projSuffix("self_attn", "k", "weight"), kvRows, H)
			add(projSuffix("self_attn", "v", "weight"), kvRows, H)
		}
		if c.QKVBias {
			add(projSuffix("self_attn", "q", "bias"), qRows)
			add(projSuffix("self_attn", "k", "bias"), kvRows)
			add(projSuffix("self_attn", "v", "bias"), kvRows)
		}
		add(projSuffix("self_attn", "o", "weight"), H, qRows)
		if c.OBias {
			add(projSuffix("self_attn", "o", "bias"), H)
		}
		if c.QKNorm {
			add(qNormSuffix, c.HeadDim)
			add(kNormSuffix, c.HeadDim)
		}
		add(postAttnNormSuffix, H)
		if c.Gemma.On {
			add(preFFNormSuffix, H)
			add(postFFNormSuffix, H)
		}
		switch {
		case c.IsMoELayer(i):
			m := c.MoE
			add(routerSuffix(c), m.Experts, H)
			for e := range m.Experts {
				gate, up, down := expertSuffixes(c, e)
				for _, t := range []TensorSpec{{Name: gate, Shape: []int{m.Intermediate, H}}, {Name: up, Shape: []int{m.Intermediate, H}}, {Name: down, Shape: []int{H, m.Intermediate}}} {
					specs = append(specs, TensorSpec{Name: p + t.Name, Shape: t.Shape, Routed: true, Expert: e})
				}
			}
			if m.SharedIntermediate > 0 {
				add(sharedExpertPrefix+"gate_proj.weight", m.SharedIntermediate, H)
				add(sharedExpertPrefix+"up_proj.weight", m.SharedIntermediate, H)
				add(sharedExpertPrefix+"down_proj.weight", H, m.SharedIntermediate)
				add(sharedExpertGateSuffix, 1, H)
			}
		case c.FusedGateUp:
			add(gateUpSuffix, 2*I, H)
			add(projSuffix("mlp", "down", "weight"), H, I)
		default:
			add(projSuffix("mlp", "gate", "weight"), I, H)
			add(projSuffix("mlp", "up", "weight"), I, H)
			add(projSuffix("mlp", "down", "weight"), H, I)
		}
		if c.MLPBias {
			add(projSuffix("mlp", "gate", "bias"), I)
			add(projSuffix("mlp", "up", "bias"), I)
			add(projSuffix("mlp", "down", "bias"), H)
		}
	}
	specs = append(specs, TensorSpec{Name: FinalNormName, Shape: []int{H}})
	if !c.TieWordEmbeddings {
		specs = append(specs, TensorSpec{Name: LMHeadName, Shape: []int{V, H}})
	}
	return specs
}

// shapeElements is the product of a shape (1 for a scalar).
func shapeElements(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}
