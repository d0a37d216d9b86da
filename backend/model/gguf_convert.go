package model

import (
	"fmt"
	"math"
	"strings"
)

// GGUFEncoder chooses how one tensor is stored in a GGUF file: given its
// GGUF name, its row-major shape and its values (llama's q/k rows already
// permuted), it returns the ggml type and the encoded bytes.
type GGUFEncoder func(name string, shape []int, values []float32) (GGMLType, []byte, error)

// FloatEncoder stores matrices as dt (F32, F16 or BF16) and vectors as F32,
// as llama.cpp's converter does.
func FloatEncoder(dt DType) GGUFEncoder {
	return func(_ string, shape []int, values []float32) (GGMLType, []byte, error) {
		t, typ := dt, map[DType]GGMLType{F32: GGMLF32, F16: GGMLF16, BF16: GGMLBF16}[dt]
		if len(shape) < 2 {
			t, typ = F32, GGMLF32
		}
		b, err := EncodeFloat32s(t, values)
		return typ, b, err
	}
}

// WriteGGUF converts an opened model to GGUF the way llama.cpp's
// convert_hf_to_gguf.py does for the supported architectures: the same
// metadata keys, tensor names and llama's q/k row permutation (so that
// llama.cpp's adjacent-pair RoPE equals Hugging Face's rotate_half).
// Tokenizer metadata is the caller's (see tokenizer.WriteGGUF). name is
// general.name; fileType is general.file_type (llama_ftype, e.g. 7 for
// Q8_0, 15 for Q4_K_M).
func WriteGGUF(m *Model, w *GGUFWriter, name string, fileType uint32, enc GGUFEncoder) error {
	c := &m.Config
	arch := c.ModelType
	if arch == "mistral" {
		arch = "llama" // llama.cpp runs Mistral as llama
	}
	if arch != "llama" && arch != "qwen2" && arch != "qwen3" && arch != "phi3" {
		return fmt.Errorf("write GGUF: model type %s has no GGUF conversion here", c.ModelType)
	}
	w.SetString("general.architecture", arch)
	w.SetString("general.type", "model")
	w.SetString("general.name", name)
	key := func(k string) string { return arch + "." + k }
	w.SetUint32(key("block_count"), uint32(c.NumLayers))
	w.SetUint32(key("context_length"), uint32(c.MaxPositionEmbeddings))
	w.SetUint32(key("embedding_length"), uint32(c.HiddenSize))
	w.SetUint32(key("feed_forward_length"), uint32(c.IntermediateSize))
	w.SetUint32(key("attention.head_count"), uint32(c.NumHeads))
	w.SetUint32(key("attention.head_count_kv"), uint32(c.NumKVHeads))
	w.SetFloat32(key("rope.freq_base"), float32(c.RopeTheta))
	w.SetFloat32(key("attention.layer_norm_rms_epsilon"), float32(c.RMSNormEps))
	w.SetUint32(key("attention.key_length"), uint32(c.HeadDim))
	w.SetUint32(key("attention.value_length"), uint32(c.HeadDim))
	w.SetUint32(key("rope.dimension_count"), uint32(c.RotaryDim()))
	w.SetUint32(key("vocab_size"), uint32(c.VocabSize))
	if arch == "phi3" && c.SlidingWindow > 0 {
		w.SetUint32(key("attention.sliding_window"), uint32(c.SlidingWindow))
	}
	w.SetUint32("general.file_type", fileType)
	w.SetUint32("general.quantization_version", 2)

	var ropeFreqs []float32
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "linear":
			w.SetString(key("rope.scaling.type"), "linear")
			w.SetFloat32(key("rope.scaling.factor"), float32(s.Factor))
		case "llama3":
			ropeFreqs = llama3RopeFactors(c)
		}
	}

	for _, spec := range c.ExpectedTensors() {
		if spec.Name == LMHeadName && c.TieWordEmbeddings {
			continue
		}
		t := m.tensors[spec.Name]
		values, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("write GGUF: %w", err)
		}
		if arch == "llama" {
			if heads := llamaPermuteHeads(c, spec.Name); heads > 0 {
				values = permuteRows(values, t.Shape, heads)
			}
		}
		gname := ggufTensorName(spec.Name, arch)
		typ, data, err := enc(gname, t.Shape, values)
		if err != nil {
			return fmt.Errorf("write GGUF: tensor %s: %w", gname, err)
		}
		ne := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			ne[len(t.Shape)-1-i] = int64(d)
		}
		w.AddTensor(gname, typ, ne, data)
	}
	if ropeFreqs != nil {
		b, _ := EncodeFloat32s(F32, ropeFreqs)
		w.AddTensor("rope_freqs.weight", GGMLF32, []int64{int64(len(ropeFreqs))}, b)
	}
	return w.Err()
}

// llamaPermuteHeads is the head count whose rotary halves convert_hf_to_gguf
// interleaves for tensor name (q: attention heads, k: KV heads), or 0.
func llamaPermuteHeads(c *Config, name string) int {
	switch {
	case strings.HasSuffix(name, "self_attn.q_proj.weight"), strings.HasSuffix(name, "self_attn.q_proj.bias"):
		return c.NumHeads
	case strings.HasSuffix(name, "self_attn.k_proj.weight"), strings.HasSuffix(name, "self_attn.k_proj.bias"):
		return c.NumKVHeads
	}
	return 0
}

// permuteRows is convert_hf_to_gguf.py's permute: per head, Hugging Face row
// j·d/2 + i becomes row 2i + j.
func permuteRows(values []float32, shape []int, heads int) []float32 {
	rows := shape[0]
	cols := len(values) / rows
	d := rows / heads
	out := make([]float32, len(values))
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				src, dst := h*d+j*d/2+i, h*d+2*i+j
				copy(out[dst*cols:(dst+1)*cols], values[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// llama3RopeFactors precomputes Llama 3's per-frequency RoPE divisors as
// convert_hf_to_gguf.py writes them into rope_freqs.weight.
func llama3RopeFactors(c *Config) []float32 {
	s := c.RopeScaling
	rd := c.RotaryDim()
	old := float64(s.OriginalMaxPositionEmbeddings)
	lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
	out := make([]float32, rd/2)
	for i := range out {
		freq := 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(rd))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(s.Factor)
		default:
			smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
			out[i] = float32(1 / ((1-smooth)/s.Factor + smooth))
		}
	}
	return out
}

// ggufTensorName is the llama.cpp name of a Hugging Face tensor name (the
// inverse of hfTensorName).
func ggufTensorName(name, arch string) string {
	switch name {
	case EmbeddingName:
		return "token_embd.weight"
	case FinalNormName:
		return "output_norm.weight"
	case LMHeadName:
		return "output.weight"
	}
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return name
	}
	num, suffix, _ := strings.Cut(rest, ".")
	kind := suffix[strings.LastIndex(suffix, ".")+1:]
	base := strings.TrimSuffix(suffix, "."+kind)
	gg := map[string]string{
		"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
		"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
		"self_attn.o_proj": "attn_output", "self_attn.qkv_proj": "attn_qkv",
		"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
		"mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "mlp.gate_up_proj": "ffn_up",
	}[base]
	if gg == "" {
		return name
	}
	return "blk." + num + "." + gg + "." + kind
}
