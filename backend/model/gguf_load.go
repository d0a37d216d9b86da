package model

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// The quantized element types a GGUF file may hold and the engine runs.
// Their elements are not whole bytes: see DType.Block.
const (
	Q8_0 DType = "Q8_0"
	Q4_0 DType = "Q4_0"
	Q4_K DType = "Q4_K"
	Q5_K DType = "Q5_K"
	Q6_K DType = "Q6_K"
)

// Block is a quantized type's block layout (values per block, bytes per
// block, as ggml defines them), or (1, Size()) for plain element types.
func (d DType) Block() (values, bytes int) {
	switch d {
	case Q8_0:
		return 32, 34
	case Q4_0:
		return 32, 18
	case Q4_K:
		return 256, 144
	case Q5_K:
		return 256, 176
	case Q6_K:
		return 256, 210
	}
	return 1, d.Size()
}

// Quantized reports whether d is one of the block-quantized types.
func (d DType) Quantized() bool {
	switch d {
	case Q8_0, Q4_0, Q4_K, Q5_K, Q6_K:
		return true
	}
	return false
}

// ggmlDType maps the ggml types the engine runs to DTypes.
func ggmlDType(t GGMLType) (DType, bool) {
	switch t {
	case GGMLF32:
		return F32, true
	case GGMLF16:
		return F16, true
	case GGMLBF16:
		return BF16, true
	case GGMLQ8_0:
		return Q8_0, true
	case GGMLQ4_0:
		return Q4_0, true
	case GGMLQ4_K:
		return Q4_K, true
	case GGMLQ5_K:
		return Q5_K, true
	case GGMLQ6_K:
		return Q6_K, true
	}
	return Unknown, false
}

const supportedGGMLTypes = "F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (the types of Q8_0, Q4_0, Q4_K_M, Q5_K_M and Q6_K files)"

// SupportedGGUFArchitectures are the general.architecture values this
// package loads.
func SupportedGGUFArchitectures() []string { return []string{"llama", "qwen2", "qwen3", "phi3"} }

// ReadGGUF maps path and parses its GGUF header. The caller must call
// release when done with the header's data (GGUF.Data slices into it).
func ReadGGUF(path string) (g *GGUF, file []byte, release func() error, err error) {
	g, file, _, release, err = readGGUF(path)
	return g, file, release, err
}

func readGGUF(path string) (g *GGUF, file []byte, stamp FileStamp, release func() error, err error) {
	data, stamp, release, err := mapFile(path)
	if err != nil {
		return nil, nil, stamp, nil, fmt.Errorf("open %s: %w", path, err)
	}
	g, err = ParseGGUF(data)
	if err != nil {
		release()
		return nil, nil, stamp, nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, data, stamp, release, nil
}

// openGGUF loads a GGUF file as a Model: the config from its metadata, the
// tensors under their Hugging Face names (llama's permuted q/k rows put back
// in Hugging Face order), validated against the config like a safetensors
// folder.
func openGGUF(path string) (*Model, error) {
	g, data, stamp, release, err := readGGUF(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Dir: path, tensors: map[string]*Tensor{}, gguf: g,
		files: []*weightFile{{path: path, data: data, stamp: stamp, release: release}}}
	if err := m.loadGGUF(g, data, true); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// InspectGGUF validates a GGUF file like Open and returns its facts, without
// preparing the weights for inference (no tensor is copied or read), so
// listing a folder of large files stays cheap.
func InspectGGUF(path string) (Facts, error) {
	g, data, release, err := ReadGGUF(path)
	if err != nil {
		return Facts{}, err
	}
	defer release()
	m := &Model{Dir: path, tensors: map[string]*Tensor{}, gguf: g, files: []*weightFile{{path: path}}}
	if err := m.loadGGUF(g, data, false); err != nil {
		return Facts{}, fmt.Errorf("%s: %w", path, err)
	}
	return m.facts, nil
}

// loadGGUF builds the model from the parsed file; forInference also puts
// llama's q/k rows back in Hugging Face order (a copy of those tensors).
func (m *Model) loadGGUF(g *GGUF, data []byte, forInference bool) error {
	cfg, err := ConfigFromGGUF(g, data)
	if err != nil {
		return err
	}
	m.Config = *cfg
	fileOf := map[string]string{}
	for _, info := range g.Tensors {
		if info.Name == "rope_freqs.weight" {
			continue // read into the config by ConfigFromGGUF
		}
		dt, ok := ggmlDType(info.Type)
		if !ok {
			return fmt.Errorf("tensor %q has type %s, which this engine cannot run (supported: %s): use a file quantized to one of those", info.Name, info.Type, supportedGGMLTypes)
		}
		name := hfTensorName(info.Name, g.Architecture())
		if _, dup := m.tensors[name]; dup {
			return fmt.Errorf("tensor %q maps to %q, which another tensor already maps to", info.Name, name)
		}
		m.tensors[name] = &Tensor{Name: name, DType: dt, Shape: info.Shape(), Data: g.Data(data, info)}
		fileOf[name] = info.Name
	}
	for name, t := range m.tensors {
		if len(t.Shape) < 2 && t.DType.Quantized() {
			return fmt.Errorf("tensor %q (%s) is a quantized vector; norms and biases must be F32, F16 or BF16", fileOf[name], t.DType)
		}
	}
	if err := m.checkAgainstConfig(fileOf); err != nil {
		return err
	}
	if cfg.ModelType == "llama" && forInference {
		if err := m.unpermuteLlamaQK(); err != nil {
			return err
		}
	}
	m.facts = m.computeFacts()
	return m.buildLayers()
}

// hfTensorName maps a llama.cpp tensor name to the Hugging Face name this
// package uses; names it does not know are returned unchanged (and then
// reported as unexpected).
func hfTensorName(name, arch string) string {
	switch name {
	case "token_embd.weight":
		return EmbeddingName
	case "output_norm.weight":
		return FinalNormName
	case "output.weight":
		return LMHeadName
	}
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return name
	}
	num, suffix, ok := strings.Cut(rest, ".")
	if !ok {
		return name
	}
	if _, err := strconv.Atoi(num); err != nil {
		return name
	}
	base, kind, ok := strings.Cut(suffix, ".")
	if !ok {
		return name
	}
	var hf string
	switch base {
	case "attn_norm":
		hf = "input_layernorm"
	case "ffn_norm":
		hf = "post_attention_layernorm"
	case "attn_q":
		hf = "self_attn.q_proj"
	case "attn_k":
		hf = "self_attn.k_proj"
	case "attn_v":
		hf = "self_attn.v_proj"
	case "attn_output":
		hf = "self_attn.o_proj"
	case "attn_qkv":
		hf = "self_attn.qkv_proj"
	case "attn_q_norm":
		hf = "self_attn.q_norm"
	case "attn_k_norm":
		hf = "self_attn.k_norm"
	case "ffn_gate":
		hf = "mlp.gate_proj"
	case "ffn_up":
		hf = "mlp.up_proj"
		if arch == "phi3" {
			hf = "mlp.gate_up_proj" // phi3 keeps gate;up fused, as in Hugging Face
		}
	case "ffn_down":
		hf = "mlp.down_proj"
	default:
		return name
	}
	return "model.layers." + num + "." + hf + "." + kind
}

// unpermuteLlamaQK undoes the row permutation convert_hf_to_gguf.py applies
// to llama's q and k projections (weights and biases): it reorders each
// head's rows so llama.cpp's RoPE on adjacent pairs (2i, 2i+1) equals
// Hugging Face's rotate_half pairs (i, i+d/2). GGUF row h·d + 2i + j holds
// Hugging Face row h·d + j·d/2 + i. The tensors are copied (the mapping is
// read-only); q and k are a small part of the weights.
func (m *Model) unpermuteLlamaQK() error {
	c := &m.Config
	for i := range c.NumLayers {
		p := layerPrefix(i)
		for _, proj := range []struct {
			name  string
			heads int
		}{{"q", c.NumHeads}, {"k", c.NumKVHeads}} {
			for _, kind := range []string{"weight", "bias"} {
				name := p + projSuffix("self_attn", proj.name, kind)
				t := m.tensors[name]
				if t == nil {
					continue
				}
				u, err := unpermuteRows(t, proj.heads)
				if err != nil {
					return err
				}
				m.tensors[name] = u
			}
		}
	}
	return nil
}

func unpermuteRows(t *Tensor, heads int) (*Tensor, error) {
	rows := t.Shape[0]
	if heads <= 0 || rows%(2*heads) != 0 || len(t.Data)%rows != 0 {
		return nil, fmt.Errorf("tensor %s: %d rows cannot be split into %d heads of rotary pairs", t.Name, rows, heads)
	}
	d, rowBytes := rows/heads, len(t.Data)/rows
	buf := make([]uint64, (len(t.Data)+7)/8) // 8-byte aligned, like the mapping
	out := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(t.Data))
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				src := h*d + 2*i + j
				dst := h*d + j*d/2 + i
				copy(out[dst*rowBytes:(dst+1)*rowBytes], t.Data[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	u := *t
	u.Data = out
	return &u, nil
}

// ConfigFromGGUF builds the normalised Config from a GGUF file's metadata
// keys ({arch}.block_count, .embedding_length, ...). It goes through the
// same validation and defaulting as config.json (ParseConfig), so the two
// formats cannot drift apart. Tensors it reads too: token_embd.weight for
// the vocabulary size, output.weight for tied embeddings, and
// rope_freqs.weight for Llama 3's rope scaling factors (read from file, the
// whole file g was parsed from).
func ConfigFromGGUF(g *GGUF, file []byte) (*Config, error) {
	arch := g.Architecture()
	if arch == "" {
		return nil, fmt.Errorf("no general.architecture key: not a model GGUF (supported architectures: %s)", strings.Join(SupportedGGUFArchitectures(), ", "))
	}
	if !slices.Contains(SupportedGGUFArchitectures(), arch) {
		return nil, fmt.Errorf("general.architecture %q is not supported (supported: %s)", arch, strings.Join(SupportedGGUFArchitectures(), ", "))
	}
	raw := map[string]any{"model_type": arch}
	var firstErr error
	intKey := func(key, dst string, required bool) int64 {
		v, ok, err := g.Int(arch + "." + key)
		switch {
		case err != nil:
			firstErr = cmpErr(firstErr, err)
		case !ok && required:
			firstErr = cmpErr(firstErr, fmt.Errorf("missing required key %s.%s", arch, key))
		case ok && dst != "":
			raw[dst] = v
		}
		return v
	}
	floatKey := func(key, dst string) (float64, bool) {
		v, ok, err := g.Float(arch + "." + key)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
		} else if ok && dst != "" {
			raw[dst] = v
		}
		return v, ok && err == nil
	}
	intKey("embedding_length", "hidden_size", true)
	intKey("feed_forward_length", "intermediate_size", true)
	// Every layer stores several tensors, so the tensor table bounds the
	// layer count before anything is sized by it (the config allocates per
	// layer).
	if layers := intKey("block_count", "num_hidden_layers", true); layers > int64(len(g.Tensors)) {
		return nil, fmt.Errorf("%s.block_count is %d but the file holds only %d tensors: corrupt metadata", arch, layers, len(g.Tensors))
	}
	intKey("attention.head_count", "num_attention_heads", true)
	intKey("attention.head_count_kv", "num_key_value_heads", false)
	intKey("context_length", "max_position_embeddings", false)
	keyLen := intKey("attention.key_length", "head_dim", false)
	if vl, ok, err := g.Int(arch + ".attention.value_length"); err == nil && ok && keyLen != 0 && vl != keyLen {
		return nil, fmt.Errorf("%s.attention.value_length (%d) differs from key_length (%d): not supported", arch, vl, keyLen)
	}
	floatKey("attention.layer_norm_rms_epsilon", "rms_norm_eps")
	floatKey("rope.freq_base", "rope_theta")
	if arch == "phi3" {
		intKey("attention.sliding_window", "sliding_window", false)
	}
	if firstErr != nil {
		return nil, firstErr
	}

	var embed, output *GGUFTensorInfo
	var ropeFreqs *GGUFTensorInfo
	var qBias, oBias, mlpBias bool
	for i := range g.Tensors {
		switch t := &g.Tensors[i]; t.Name {
		case "token_embd.weight":
			embed = t
		case "output.weight":
			output = t
		case "rope_freqs.weight":
			ropeFreqs = t
		case "blk.0.attn_q.bias":
			qBias = true
		case "blk.0.attn_output.bias":
			oBias = true
		case "blk.0.ffn_up.bias":
			mlpBias = true
		}
	}
	if embed == nil || len(embed.Ne) != 2 {
		return nil, fmt.Errorf("no 2-D token_embd.weight tensor: not a complete %s model", arch)
	}
	raw["vocab_size"] = embed.Ne[1]
	raw["tie_word_embeddings"] = output == nil
	if arch == "qwen3" {
		raw["attention_bias"] = qBias
	}
	if arch == "llama" {
		if qBias != oBias {
			return nil, fmt.Errorf("llama with a bias on q but not on the output projection (or the reverse) is not supported")
		}
		raw["attention_bias"], raw["mlp_bias"] = qBias, mlpBias
	}

	// Rotary dims below head_dim (rope.dimension_count) is partial rotation.
	if dims, ok, err := g.Int(arch + ".rope.dimension_count"); err != nil {
		return nil, err
	} else if ok {
		headDim := keyLen
		if headDim == 0 {
			h, _, _ := g.Int(arch + ".embedding_length")
			n, _, _ := g.Int(arch + ".attention.head_count")
			if n > 0 {
				headDim = h / n
			}
		}
		if headDim > 0 && dims != headDim {
			raw["partial_rotary_factor"] = float64(dims) / float64(headDim)
		}
	}
	scaling, _ := g.String(arch + ".rope.scaling.type")
	factor, hasFactor := floatKey("rope.scaling.factor", "")
	if old, ok := floatKey("rope.scale_linear", ""); ok && scaling == "" { // the pre-2024 key
		scaling, factor, hasFactor = "linear", old, true
	}
	switch scaling {
	case "", "none":
	case "linear":
		if !hasFactor {
			return nil, fmt.Errorf("%s.rope.scaling.type is linear but there is no rope.scaling.factor", arch)
		}
		if factor != 1 {
			raw["rope_scaling"] = map[string]any{"type": "linear", "factor": factor}
		}
	default:
		return nil, fmt.Errorf("%s.rope.scaling.type %q is not supported (supported: none, linear, and Llama 3's rope_freqs)", arch, scaling)
	}

	if bos, ok, err := g.Int("tokenizer.ggml.bos_token_id"); err == nil && ok {
		raw["bos_token_id"] = bos
	}
	if eos, ok, err := g.Int("tokenizer.ggml.eos_token_id"); err == nil && ok {
		raw["eos_token_id"] = eos
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(js)
	if err != nil {
		return nil, fmt.Errorf("GGUF metadata: %w", err)
	}
	c.Architectures = []string{"GGUF"}
	// End-of-turn tokens stop generation too (chat models end turns with them).
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		if id, ok, err := g.Int(key); err == nil && ok && id >= 0 && !slices.Contains(c.EOSTokenIDs, int(id)) {
			c.EOSTokenIDs = append(c.EOSTokenIDs, int(id))
		}
	}
	if ropeFreqs != nil {
		if ropeFreqs.Type != GGMLF32 || len(ropeFreqs.Ne) != 1 || int(ropeFreqs.Ne[0]) != c.RotaryDim()/2 {
			return nil, fmt.Errorf("rope_freqs.weight is %s %v, want F32 [%d] (rotary dims / 2)", ropeFreqs.Type, ropeFreqs.Ne, c.RotaryDim()/2)
		}
		vals := make([]float32, ropeFreqs.Ne[0])
		if err := DecodeFloat32s(vals, F32, g.Data(file, *ropeFreqs)); err != nil {
			return nil, fmt.Errorf("rope_freqs.weight: %w", err)
		}
		c.RopeFreqFactors = make([]float64, len(vals))
		for i, v := range vals {
			if !(v > 0) {
				return nil, fmt.Errorf("rope_freqs.weight[%d] is %g, want a positive factor", i, v)
			}
			c.RopeFreqFactors[i] = float64(v)
		}
	}
	return c, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// loadGGUFConfig reads the config of a GGUF file without keeping it mapped.
func loadGGUFConfig(path string) (*Config, error) {
	g, data, release, err := ReadGGUF(path)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := ConfigFromGGUF(g, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// isGGUFFile reports whether path is a GGUF file (see IsGGUF).
func isGGUFFile(path string) bool { return IsGGUF(path) }

// IsGGUF reports whether path is a GGUF file: a regular file named *.gguf,
// or one whose first bytes are the GGUF magic (ollama keeps its models as
// blobs/sha256-HEX, without the extension).
func IsGGUF(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	if IsGGUFPath(path) {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "GGUF"
}
