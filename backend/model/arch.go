package model

import "fmt"

// TensorSpec is a tensor the architecture needs: its Hugging Face name and
// shape ([out, in] for projection weights, as PyTorch's nn.Linear stores
// them).
type TensorSpec struct {
	Name  string
	Shape []int
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
)

func projSuffix(block, proj, kind string) string { return block + "." + proj + "_proj." + kind }

// ExpectedTensors lists every tensor the architecture stores, in model
// order: the embedding, each layer, the final norm, and lm_head unless the
// embeddings are tied. The parameter counts in Facts are sums over this
// list, so it is also the contract the weights are checked against.
func (c *Config) ExpectedTensors() []TensorSpec {
	H, I, V := c.HiddenSize, c.IntermediateSize, c.VocabSize
	qRows, kvRows := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	specs := []TensorSpec{{EmbeddingName, []int{V, H}}}
	for i := range c.NumLayers {
		p := layerPrefix(i)
		add := func(suffix string, shape ...int) { specs = append(specs, TensorSpec{p + suffix, shape}) }
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
		if c.FusedGateUp {
			add(gateUpSuffix, 2*I, H)
		} else {
			add(projSuffix("mlp", "gate", "weight"), I, H)
			add(projSuffix("mlp", "up", "weight"), I, H)
		}
		add(projSuffix("mlp", "down", "weight"), H, I)
		if c.MLPBias {
			add(projSuffix("mlp", "gate", "bias"), I)
			add(projSuffix("mlp", "up", "bias"), I)
			add(projSuffix("mlp", "down", "bias"), H)
		}
	}
	specs = append(specs, TensorSpec{FinalNormName, []int{H}})
	if !c.TieWordEmbeddings {
		specs = append(specs, TensorSpec{LMHeadName, []int{V, H}})
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
