package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// supportedList names the loadable model_type values, for error messages.
const supportedList = "llama, mistral, qwen2, qwen3, phi3, gemma3_text, gemma3, mixtral, qwen2_moe, qwen3_moe"

// SupportedModelTypes returns the config.json model_type values this package
// loads.
func SupportedModelTypes() []string {
	return []string{"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text", "gemma3", "mixtral", "qwen2_moe", "qwen3_moe"}
}

// Config is a normalised config.json: every derived or defaulted value is
// filled in, so consumers never re-apply Hugging Face's defaulting rules.
type Config struct {
	ModelType     string   // one of SupportedModelTypes
	Architectures []string // e.g. ["LlamaForCausalLM"]; informational

	HiddenSize            int
	IntermediateSize      int
	NumLayers             int // num_hidden_layers
	NumHeads              int // num_attention_heads
	NumKVHeads            int // num_key_value_heads; defaults to NumHeads
	HeadDim               int // head_dim; defaults to HiddenSize/NumHeads
	VocabSize             int // the embedding rows; may exceed the tokenizer's size (padding)
	MaxPositionEmbeddings int

	RMSNormEps float64
	RopeTheta  float64
	// RopeScaling is nil for plain RoPE (rope_scaling null or absent, or
	// rope_type "default").
	RopeScaling *RopeScaling
	// RopeFreqFactors, when set, divide RoPE's inverse frequencies one by
	// one (GGUF's rope_freqs.weight: Llama 3's scaling precomputed by the
	// converter, applied instead of RopeScaling).
	RopeFreqFactors []float64
	// PartialRotaryFactor is the fraction of each head's dims that RoPE
	// rotates (Phi); 1 for full rotation. See RotaryDim.
	PartialRotaryFactor float64

	// SlidingWindow is the attention window of the layers that use one
	// (0: none). A key at position j is visible from query i iff
	// i-SlidingWindow < j <= i. Which layers use it: LayerWindow.
	SlidingWindow int
	// LayerTypes is per layer "full_attention" or "sliding_attention".
	LayerTypes []string

	TieWordEmbeddings bool
	// DType is the stored weight type named by config.json (torch_dtype, or
	// dtype in transformers >= 5); Unknown when it names none.
	DType DType

	BOSTokenID  int   // -1 when neither config names one
	EOSTokenIDs []int // generation_config.json's first, then config.json's; may be empty

	HiddenAct string // "silu", or "gelu_pytorch_tanh" (GeGLU) for Gemma 3

	QKVBias bool // q_proj/k_proj/v_proj have biases (qwen2; llama/qwen3 attention_bias)
	OBias   bool // o_proj has a bias (llama/qwen3 attention_bias)
	// QKNorm: q_norm and k_norm, RMSNorms over each head's head_dim, are
	// applied to the projected queries and keys before RoPE (qwen3).
	QKNorm      bool
	MLPBias     bool // gate/up/down have biases (llama mlp_bias)
	FusedQKV    bool // one qkv_proj tensor, rows q;k;v (phi3)
	FusedGateUp bool // one gate_up_proj tensor, rows gate;up (phi3)

	Gemma Gemma // Gemma 3's departures from the Llama block; zero otherwise
	// MoE describes the mixture-of-experts MLPs; nil for a dense model.
	MoE *MoE
}

// RopeScaling is a supported rope_scaling / rope_parameters entry.
type RopeScaling struct {
	Type   string  // "linear" or "llama3"
	Factor float64 // both types
	// llama3 only.
	LowFreqFactor                 float64
	HighFreqFactor                float64
	OriginalMaxPositionEmbeddings int
}

// RotaryDim is how many leading dims of each head RoPE rotates:
// HeadDim × PartialRotaryFactor (all of them unless Phi says otherwise).
func (c *Config) RotaryDim() int { return int(float64(c.HeadDim) * c.PartialRotaryFactor) }

// LayerWindow is the sliding-attention window of layer i, or 0 when the
// layer attends to the whole context.
func (c *Config) LayerWindow(i int) int {
	if i < 0 || i >= len(c.LayerTypes) || c.LayerTypes[i] != "sliding_attention" {
		return 0
	}
	return c.SlidingWindow
}

// AttentionKind is "MHA" (as many KV heads as query heads), "MQA" (one KV
// head) or "GQA" (groups of query heads share a KV head).
func (c *Config) AttentionKind() string {
	switch {
	case c.NumKVHeads == c.NumHeads:
		return "MHA"
	case c.NumKVHeads == 1:
		return "MQA"
	}
	return "GQA"
}

// LoadConfig reads dir/config.json and, when present,
// dir/generation_config.json (for its EOS and BOS ids).
//
// dir may also be a .gguf file: its config comes from its metadata.
func LoadConfig(dir string) (*Config, error) {
	if isGGUFFile(dir) {
		return loadGGUFConfig(dir)
	}
	path := filepath.Join(dir, "config.json")
	data, err := readSmallFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no config.json: point at a Hugging Face model folder (config.json + *.safetensors)", dir)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	genPath := filepath.Join(dir, "generation_config.json")
	gen, err := readSmallFile(genPath)
	switch {
	case err == nil:
		if err := cfg.applyGenerationConfig(gen); err != nil {
			return nil, fmt.Errorf("%s: %w", genPath, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", genPath, err)
	}
	return cfg, nil
}

// rawConfig mirrors the config.json keys this package reads. Pointers tell
// absent (or null) from zero.
type rawConfig struct {
	ModelType             string          `json:"model_type"`
	Architectures         []string        `json:"architectures"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	VocabSize             *int            `json:"vocab_size"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	SlidingWindow         *int            `json:"sliding_window"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	MaxWindowLayers       *int            `json:"max_window_layers"`
	LayerTypes            []string        `json:"layer_types"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	TorchDType            *string         `json:"torch_dtype"`
	DType                 *string         `json:"dtype"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	HiddenAct             *string         `json:"hidden_act"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	rawFamilyKeys                         // Gemma 3 and MoE keys (config_families.go)
}

// familyDefaults are the transformers config-class defaults for keys a
// config.json may omit.
type familyDefaults struct {
	rmsNormEps float64
	maxPos     int
	headDim    int    // 0: hidden_size / num_attention_heads
	act        string // hidden activation; "" means silu
	ropeTheta  float64
	// shape holds defaults for the shape keys that are otherwise required
	// (Gemma3TextConfig defaults all of them).
	shape map[string]int
}

func defaultsFor(modelType string) (familyDefaults, bool) {
	switch modelType {
	case "llama":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 2048}, true
	case "mistral":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 4096 * 32}, true
	case "qwen2":
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 32768}, true
	case "qwen3":
		// Qwen3Config's head_dim defaults to 128, not hidden/heads.
		return familyDefaults{rmsNormEps: 1e-6, maxPos: 32768, headDim: 128}, true
	case "phi3":
		return familyDefaults{rmsNormEps: 1e-5, maxPos: 4096}, true
	}
	return familyDefaultsMore(modelType)
}

// ParseConfig parses and normalises the contents of a config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not valid config JSON: %w", err)
	}
	if raw.ModelType == "gemma3" {
		// A multimodal Gemma 3 checkpoint: its text model is what runs.
		if err := unwrapTextConfig(&raw); err != nil {
			return nil, err
		}
	}
	defaults, ok := defaultsFor(raw.ModelType)
	if !ok {
		if raw.ModelType == "" {
			return nil, fmt.Errorf("no model_type key (supported: %s)", supportedList)
		}
		return nil, fmt.Errorf("model_type %q is not supported (supported: %s)", raw.ModelType, supportedList)
	}
	c := &Config{ModelType: raw.ModelType, Architectures: raw.Architectures, BOSTokenID: -1}

	required := []struct {
		key string
		src *int
		dst *int
	}{
		{"hidden_size", raw.HiddenSize, &c.HiddenSize},
		{"intermediate_size", raw.IntermediateSize, &c.IntermediateSize},
		{"num_hidden_layers", raw.NumHiddenLayers, &c.NumLayers},
		{"num_attention_heads", raw.NumAttentionHeads, &c.NumHeads},
		{"vocab_size", raw.VocabSize, &c.VocabSize},
	}
	for _, r := range required {
		if r.src == nil {
			if v, ok := defaults.shape[r.key]; ok {
				r.src = &v
			}
		}
		if r.src == nil {
			return nil, fmt.Errorf("missing required key %s", r.key)
		}
		*r.dst = *r.src
	}
	// Bound the sizes before anything is derived or allocated from them.
	for _, s := range []struct {
		key      string
		val, max int
	}{
		{"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize},
		{"num_hidden_layers", c.NumLayers, MaxLayers},
		{"num_attention_heads", c.NumHeads, MaxHeads},
		{"vocab_size", c.VocabSize, MaxVocabSize},
	} {
		if err := checkSize(s.key, s.val, s.max); err != nil {
			return nil, err
		}
	}

	c.NumKVHeads = c.NumHeads
	if v, ok := defaults.shape["num_key_value_heads"]; ok {
		c.NumKVHeads = v
	}
	if raw.NumKeyValueHeads != nil {
		c.NumKVHeads = *raw.NumKeyValueHeads
	}
	if c.NumKVHeads <= 0 || c.NumKVHeads > c.NumHeads || c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("num_key_value_heads is %d, want a divisor of num_attention_heads (%d)", c.NumKVHeads, c.NumHeads)
	}
	if raw.HeadDim != nil {
		c.HeadDim = *raw.HeadDim
		if err := checkSize("head_dim", c.HeadDim, MaxHeadDim); err != nil {
			return nil, err
		}
	} else if defaults.headDim > 0 {
		c.HeadDim = defaults.headDim
	} else {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("hidden_size (%d) is not a multiple of num_attention_heads (%d) and there is no head_dim key", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}

	c.MaxPositionEmbeddings = defaults.maxPos
	if raw.MaxPositionEmbeddings != nil {
		c.MaxPositionEmbeddings = *raw.MaxPositionEmbeddings
		if err := checkSize("max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions); err != nil {
			return nil, err
		}
	}
	c.RMSNormEps = defaults.rmsNormEps
	if raw.RMSNormEps != nil {
		c.RMSNormEps = *raw.RMSNormEps
		if !(c.RMSNormEps > 0) {
			return nil, fmt.Errorf("rms_norm_eps is %g, want a positive number", c.RMSNormEps)
		}
	}
	if raw.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *raw.TieWordEmbeddings
	}

	c.HiddenAct = "silu"
	if defaults.act != "" {
		c.HiddenAct = defaults.act
	}
	actKey := "hidden_act"
	if raw.HiddenAct != nil {
		c.HiddenAct = *raw.HiddenAct
	}
	if raw.HiddenActivation != nil { // Gemma's key
		actKey, c.HiddenAct = "hidden_activation", *raw.HiddenActivation
	}
	if want := cmp.Or(defaults.act, "silu"); c.HiddenAct != want {
		return nil, fmt.Errorf("%s %q is not supported for %s (supported: %s)", actKey, c.HiddenAct, raw.ModelType, want)
	}

	// dtype (transformers >= 5) replaces torch_dtype.
	dtypeKey, dtypeVal := "torch_dtype", raw.TorchDType
	if raw.DType != nil {
		dtypeKey, dtypeVal = "dtype", raw.DType
	}
	if dtypeVal != nil {
		dt, err := dtypeFromTorch(*dtypeVal)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dtypeKey, err)
		}
		c.DType = dt
	}

	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.parseRope(raw, defaults); err != nil {
		return nil, err
	}
	if err := c.parseAttentionLayout(raw); err != nil {
		return nil, err
	}
	if err := c.parseWindows(raw); err != nil {
		return nil, err
	}
	if err := c.parseGemma(raw); err != nil {
		return nil, err
	}
	if err := c.parseMoE(raw); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil { // rope scaling, windows and experts, now known
		return nil, err
	}

	if len(raw.BOSTokenID) > 0 {
		ids, err := parseTokenIDs(raw.BOSTokenID)
		if err != nil {
			return nil, fmt.Errorf("bos_token_id: %w", err)
		}
		if len(ids) > 0 {
			c.BOSTokenID = ids[0]
		}
	}
	if len(raw.EOSTokenID) > 0 {
		ids, err := parseTokenIDs(raw.EOSTokenID)
		if err != nil {
			return nil, fmt.Errorf("eos_token_id: %w", err)
		}
		c.EOSTokenIDs = ids
	}
	return c, nil
}

// parseAttentionLayout sets the per-family bias and fusion flags.
func (c *Config) parseAttentionLayout(raw rawConfig) error {
	attnBias := raw.AttentionBias != nil && *raw.AttentionBias
	mlpBias := raw.MLPBias != nil && *raw.MLPBias
	switch c.ModelType {
	case "llama":
		c.QKVBias, c.OBias, c.MLPBias = attnBias, attnBias, mlpBias
	case "qwen2":
		// transformers hard-codes bias=True on q/k/v and no other bias.
		c.QKVBias = true
	case "qwen3", "qwen3_moe", "gemma3_text", "gemma3":
		// attention_bias puts biases on q, k, v and o; q_norm and k_norm
		// always exist (Qwen3Attention, Qwen3MoeAttention, Gemma3Attention).
		c.QKVBias, c.OBias, c.QKNorm = attnBias, attnBias, true
		attnBias = false
	case "qwen2_moe":
		// Qwen2MoeAttention: q/k/v biases (qkv_bias, true unless a config
		// says otherwise), none on o.
		c.QKVBias = raw.QKVBias == nil || *raw.QKVBias
	case "phi3":
		c.FusedQKV, c.FusedGateUp = true, true
	}
	if c.ModelType != "llama" && (attnBias || mlpBias) {
		return fmt.Errorf("attention_bias/mlp_bias true is not supported for model_type %s (transformers ignores them for it too; set them false)", c.ModelType)
	}
	return nil
}

// parseWindows resolves which layers use sliding-window attention.
func (c *Config) parseWindows(raw rawConfig) error {
	window := 0
	if raw.SlidingWindow != nil {
		window = *raw.SlidingWindow
		if window < 0 || window > MaxPositions {
			return fmt.Errorf("sliding_window is %d, want a positive integer of at most %d, or null", window, MaxPositions)
		}
	}
	if c.ModelType == "llama" {
		window = 0 // Llama has no sliding window; a stray key is ignored as transformers does
	}
	if c.isGemma3() {
		return c.parseGemmaWindows(raw, window)
	}
	// Qwen uses the window only when use_sliding_window is set, and then only
	// from layer max_window_layers on.
	firstSliding := 0
	if c.ModelType == "qwen2" || c.ModelType == "qwen3" || c.ModelType == "qwen2_moe" || c.ModelType == "qwen3_moe" {
		if raw.UseSlidingWindow == nil || !*raw.UseSlidingWindow {
			window = 0
		}
		if raw.MaxWindowLayers != nil {
			firstSliding = *raw.MaxWindowLayers
		}
	}
	c.SlidingWindow = window
	c.LayerTypes = make([]string, c.NumLayers)
	if raw.LayerTypes != nil {
		if len(raw.LayerTypes) != c.NumLayers {
			return fmt.Errorf("layer_types has %d entries, want num_hidden_layers (%d)", len(raw.LayerTypes), c.NumLayers)
		}
		for i, t := range raw.LayerTypes {
			switch t {
			case "full_attention":
			case "sliding_attention":
				if window == 0 {
					return fmt.Errorf("layer_types[%d] is sliding_attention but there is no sliding_window", i)
				}
			default:
				return fmt.Errorf("layer_types[%d] is %q (supported: full_attention, sliding_attention)", i, t)
			}
			c.LayerTypes[i] = t
		}
		return nil
	}
	for i := range c.LayerTypes {
		c.LayerTypes[i] = "full_attention"
		if window > 0 && i >= firstSliding {
			c.LayerTypes[i] = "sliding_attention"
		}
	}
	return nil
}

// parseRope reads rope_theta, rope_scaling and partial_rotary_factor, or the
// transformers >= 5 rope_parameters dict that replaces them.
func (c *Config) parseRope(raw rawConfig, defaults familyDefaults) error {
	c.RopeTheta = cmp.Or(defaults.ropeTheta, 10000)
	if raw.RopeTheta != nil {
		c.RopeTheta = *raw.RopeTheta
	}
	c.PartialRotaryFactor = 1
	if raw.PartialRotaryFactor != nil {
		c.PartialRotaryFactor = *raw.PartialRotaryFactor
	}
	key, dict := "rope_scaling", raw.RopeScaling
	if !isNull(raw.RopeParameters) {
		key, dict = "rope_parameters", raw.RopeParameters
	}
	if c.isGemma3() {
		var err error
		if dict, err = c.parseGemmaRope(raw, key, dict); err != nil {
			return err
		}
	}
	if !isNull(dict) {
		var params map[string]json.RawMessage
		if err := json.Unmarshal(dict, &params); err != nil {
			return fmt.Errorf("%s: want an object or null: %w", key, err)
		}
		var err error
		c.RopeScaling, err = parseRopeDict(key, params, &c.RopeTheta, &c.PartialRotaryFactor)
		if err != nil {
			return err
		}
	}
	if !(c.RopeTheta > 0) {
		return fmt.Errorf("rope_theta is %g, want a positive number", c.RopeTheta)
	}
	if !(c.PartialRotaryFactor > 0 && c.PartialRotaryFactor <= 1) {
		return fmt.Errorf("partial_rotary_factor is %g, want a number in (0, 1]", c.PartialRotaryFactor)
	}
	if rd := c.RotaryDim(); rd < 2 || rd%2 != 0 {
		return fmt.Errorf("rotary dims = head_dim (%d) × partial_rotary_factor (%g) = %d, want an even number ≥ 2", c.HeadDim, c.PartialRotaryFactor, rd)
	}
	return nil
}

// parseRopeDict interprets one rope_scaling or rope_parameters object.
// rope_parameters may also carry rope_theta and partial_rotary_factor,
// which it writes through theta and partial.
func parseRopeDict(key string, params map[string]json.RawMessage, theta, partial *float64) (*RopeScaling, error) {
	num := func(name string) (float64, bool, error) {
		v, ok := params[name]
		if !ok || isNull(v) {
			return 0, false, nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, false, fmt.Errorf("%s.%s: want a number: %w", key, name, err)
		}
		return f, true, nil
	}
	if f, ok, err := num("rope_theta"); err != nil {
		return nil, err
	} else if ok {
		*theta = f
	}
	if f, ok, err := num("partial_rotary_factor"); err != nil {
		return nil, err
	} else if ok {
		*partial = f
	}

	ropeType := "default"
	for _, name := range []string{"rope_type", "type"} { // "type" is the legacy spelling
		if v, ok := params[name]; ok && !isNull(v) {
			if err := json.Unmarshal(v, &ropeType); err != nil {
				return nil, fmt.Errorf("%s.%s: want a string: %w", key, name, err)
			}
			break
		}
	}
	requireNum := func(name string) (float64, error) {
		f, ok, err := num(name)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("%s: rope type %s needs key %s", key, ropeType, name)
		}
		if !(f > 0) {
			return 0, fmt.Errorf("%s.%s is %g, want a positive number", key, name, f)
		}
		return f, nil
	}
	switch ropeType {
	case "default":
		return nil, nil
	case "linear":
		factor, err := requireNum("factor")
		if err != nil {
			return nil, err
		}
		return &RopeScaling{Type: "linear", Factor: factor}, nil
	case "llama3":
		s := &RopeScaling{Type: "llama3"}
		var err error
		if s.Factor, err = requireNum("factor"); err != nil {
			return nil, err
		}
		if s.LowFreqFactor, err = requireNum("low_freq_factor"); err != nil {
			return nil, err
		}
		if s.HighFreqFactor, err = requireNum("high_freq_factor"); err != nil {
			return nil, err
		}
		orig, err := requireNum("original_max_position_embeddings")
		if err != nil {
			return nil, err
		}
		s.OriginalMaxPositionEmbeddings = int(orig)
		if s.HighFreqFactor <= s.LowFreqFactor {
			return nil, fmt.Errorf("%s: high_freq_factor (%g) must exceed low_freq_factor (%g)", key, s.HighFreqFactor, s.LowFreqFactor)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s: rope type %q is not supported (supported: default, linear, llama3)", key, ropeType)
}

// applyGenerationConfig merges generation_config.json's token ids: its EOS
// ids come first (generation stops on them), then config.json's that it
// does not repeat.
func (c *Config) applyGenerationConfig(data []byte) error {
	var gen struct {
		BOSTokenID json.RawMessage `json:"bos_token_id"`
		EOSTokenID json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &gen); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if len(gen.EOSTokenID) > 0 {
		ids, err := parseTokenIDs(gen.EOSTokenID)
		if err != nil {
			return fmt.Errorf("eos_token_id: %w", err)
		}
		merged := ids
		for _, id := range c.EOSTokenIDs {
			if !containsInt(merged, id) {
				merged = append(merged, id)
			}
		}
		c.EOSTokenIDs = merged
	}
	if c.BOSTokenID < 0 && len(gen.BOSTokenID) > 0 {
		ids, err := parseTokenIDs(gen.BOSTokenID)
		if err != nil {
			return fmt.Errorf("bos_token_id: %w", err)
		}
		if len(ids) > 0 {
			c.BOSTokenID = ids[0]
		}
	}
	return nil
}

// parseTokenIDs accepts null, an int, or a list of ints.
func parseTokenIDs(raw json.RawMessage) ([]int, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		if one < 0 {
			return nil, fmt.Errorf("%d is negative", one)
		}
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an integer or a list of integers, got %s", raw)
	}
	for _, id := range many {
		if id < 0 {
			return nil, fmt.Errorf("%d is negative", id)
		}
	}
	return many, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
