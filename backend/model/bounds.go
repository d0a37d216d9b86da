package model

import (
	"fmt"
	"io"
	"os"
)

// Sizes a model's metadata (config.json, or a GGUF file's key-values) may
// declare. They are far above every published model (the largest dense ones
// have ~128 layers, hidden 16384, 128 heads, vocabularies of ~256k), and low
// enough that nothing sized from them can exhaust memory or overflow int64
// arithmetic. Validate checks them before anything is allocated from a
// config; a reader of another format should call Validate on the Config it
// builds, then CheckWeightBytes against the bytes its weights occupy.
const (
	MaxLayers           = 1024
	MaxHiddenSize       = 1 << 16
	MaxIntermediateSize = 1 << 20
	MaxHeads            = 1024
	MaxHeadDim          = 1024
	MaxVocabSize        = 1 << 22
	// MaxExperts bounds a mixture-of-experts layer's expert count (the
	// largest published models have a few hundred).
	MaxExperts = 4096
	// MaxPositions bounds max_position_embeddings, sliding_window and
	// rope_scaling's original_max_position_embeddings.
	MaxPositions = 1 << 24
	// MaxParameters bounds the parameter count the sizes imply (10 T).
	MaxParameters = 10_000_000_000_000
	// MaxConfigBytes caps config.json and generation_config.json; real
	// ones are a few KiB.
	MaxConfigBytes = 4 << 20
)

// Validate checks every size in c against the maxima above and against each
// other, so a Config that passes is safe to size buffers from. ParseConfig
// calls it (the sizes before the per-layer lists are built); readers of
// other formats must call it too.
func (c *Config) Validate() error {
	for _, s := range []struct {
		key      string
		val, max int
	}{
		{"num_hidden_layers", c.NumLayers, MaxLayers},
		{"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize},
		{"num_attention_heads", c.NumHeads, MaxHeads},
		{"num_key_value_heads", c.NumKVHeads, MaxHeads},
		{"head_dim", c.HeadDim, MaxHeadDim},
		{"vocab_size", c.VocabSize, MaxVocabSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions},
	} {
		if err := checkSize(s.key, s.val, s.max); err != nil {
			return err
		}
	}
	if c.SlidingWindow < 0 || c.SlidingWindow > MaxPositions {
		return fmt.Errorf("sliding_window is %d, want a positive integer of at most %d (or null)", c.SlidingWindow, MaxPositions)
	}
	if c.RopeScaling != nil && (c.RopeScaling.OriginalMaxPositionEmbeddings < 0 || c.RopeScaling.OriginalMaxPositionEmbeddings > MaxPositions) {
		return fmt.Errorf("original_max_position_embeddings is %d, want at most %d", c.RopeScaling.OriginalMaxPositionEmbeddings, MaxPositions)
	}
	if m := c.MoE; m != nil {
		for _, s := range []struct {
			key      string
			val, max int
		}{
			{"num_experts", m.Experts, MaxExperts},
			{"num_experts_per_tok", m.TopK, m.Experts},
			{"moe_intermediate_size", m.Intermediate, MaxIntermediateSize},
		} {
			if err := checkSize(s.key, s.val, s.max); err != nil {
				return err
			}
		}
		if m.SharedIntermediate < 0 || m.SharedIntermediate > MaxIntermediateSize {
			return fmt.Errorf("shared_expert_intermediate_size is %d, want at most %d", m.SharedIntermediate, MaxIntermediateSize)
		}
	}
	if c.LayerTypes != nil && len(c.LayerTypes) != c.NumLayers {
		return fmt.Errorf("%d layer types for num_hidden_layers %d", len(c.LayerTypes), c.NumLayers)
	}
	if p := c.paramCount(); p > MaxParameters {
		return fmt.Errorf("the sizes imply %d parameters, want at most %d: config.json is corrupt", p, int64(MaxParameters))
	}
	return nil
}

func checkSize(key string, val, max int) error {
	if val < 1 || val > max {
		return fmt.Errorf("%s is %d, want a positive integer of at most %d: config.json is corrupt or not a supported model", key, val, max)
	}
	return nil
}

// paramCount is the parameter count ExpectedTensors implies, worked out
// without listing the tensors (so it is cheap for any layer count). The
// bounded sizes keep every product far from overflowing int64.
func (c *Config) paramCount() int64 {
	H, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	q, kv := int64(c.NumHeads*c.HeadDim), int64(c.NumKVHeads*c.HeadDim)
	layer := 2*H + (q+2*kv)*H + H*q + 3*I*H // norms, q/k/v, o, gate/up/down
	if c.QKVBias {
		layer += q + 2*kv
	}
	if c.OBias {
		layer += H
	}
	if c.MLPBias {
		layer += 2*I + H
	}
	n := V*H + int64(c.NumLayers)*layer + H
	if m := c.MoE; m != nil {
		// A sparse layer swaps the dense MLP for a router, its experts and
		// the optional shared expert with its sigmoid gate.
		sparse := int64(c.NumLayers - len(m.DenseLayers))
		moe := int64(m.Experts)*(H+3*int64(m.Intermediate)*H) + 3*int64(m.SharedIntermediate)*H
		if m.SharedIntermediate > 0 {
			moe += H
		}
		if c.MLPBias {
			moe += int64(m.Experts) * (2*int64(m.Intermediate) + H)
		}
		n += sparse * (moe - 3*I*H)
	}
	if !c.TieWordEmbeddings {
		n += V * H
	}
	return n
}

// CheckWeightBytes checks that weights of have bytes can hold the
// parameters c declares at minBytesPerParam or more each (2 for the 16-bit
// safetensors this package loads; a quantized format passes its smallest
// block size per weight). It needs only the files' sizes, so a models list
// can reject a folder whose config.json overstates its weights without
// reading them.
func (c *Config) CheckWeightBytes(have int64, minBytesPerParam float64) error {
	params := c.paramCount()
	need := float64(params) * minBytesPerParam
	if float64(have) < need {
		return fmt.Errorf("config.json declares %d parameters (at least %.0f bytes at %g bytes each) but the weights hold only %d bytes: the config does not belong to these weights, or the files are truncated",
			params, need, minBytesPerParam, have)
	}
	return nil
}

// MinSafetensorsBytesPerParam is the narrowest dtype Open loads (F16/BF16).
const MinSafetensorsBytesPerParam = 2

// WeightFileBytes is the total size of dir's safetensors weights
// (model.safetensors, or the shards its index lists), from the file system
// alone. A folder without weights gives an error wrapping ErrNoWeights.
func WeightFileBytes(dir string) (int64, error) {
	paths, _, err := findWeightFiles(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("weights: %w", err)
		}
		total += st.Size()
	}
	return total, nil
}

// readSmallFile reads a metadata file of at most MaxConfigBytes, so a
// corrupt or hostile multi-gigabyte "config.json" is refused, not read.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s is more than the %d bytes a model config may have: not a config file", path, MaxConfigBytes)
	}
	return data, nil
}
