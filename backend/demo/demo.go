// Package demo writes the built-in demo models: deterministic, seeded,
// random-weight Hugging Face model folders (config.json,
// generation_config.json, model.safetensors in bf16, tokenizer.json) that
// load through exactly the same code as a downloaded model, and quantized
// GGUF versions of them (quantized.go) made as llama.cpp makes them. They exist so the
// profiler works out of the box and shows architecture comparisons (MHA
// against GQA, model size, dense against mixture of experts); their weights
// are random, so the text they generate is meaningless.
package demo

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// Spec is the shape of one demo model.
type Spec struct {
	Name                  string
	Hidden, Intermediate  int
	Layers, Heads, KVHead int
	Vocab                 int // embedding rows; padded above the tokenizer's size, as real models do
	Description           string
	// MoE, when set, makes the model a Qwen3-MoE (qwen3_moe) mixture of
	// experts; Intermediate is then unused.
	MoE *MoESpec
}

// MoESpec is a demo model's mixture of experts.
type MoESpec struct {
	Experts, TopK, ExpertIntermediate int
	HeadDim                           int
	// RouterStd is the router weights' standard deviation: larger than
	// initStd so the random router prefers some experts per token (logits
	// of standard deviation about 1.4 on the normalised hidden state), as a
	// trained one does, instead of routing near-uniformly.
	RouterStd float64
}

// TokenizerMerges is the merge count of the demo tokenizer shared by all demo
// models (tokenizer.BuildDemoByteLevel).
const TokenizerMerges = 768

// MarkerFile is written into every demo folder (with Note); package
// modeldir recognises demo models by it.
const MarkerFile = "DEMO_MODEL.txt"

// Note is written into every demo folder's config.json and MarkerFile.
const Note = "random weights: meaningless text. This is an Energy Profiler demo model for measuring speed and energy; point --model at a real Hugging Face model folder (config.json + *.safetensors + tokenizer.json) for real text."

// initStd is the standard deviation of the random weights: small enough that
// activations stay well scaled through the layers (norm weights are 1).
const initStd = 0.02

// Specs lists the demo models, smallest first.
func Specs() []Spec {
	return []Spec{
		{Name: "demo-15m-mha", Hidden: 288, Intermediate: 768, Layers: 6, Heads: 6, KVHead: 6, Vocab: 32000,
			Description: "15M parameters, multi-head attention (6 KV heads)"},
		{Name: "demo-15m-gqa", Hidden: 288, Intermediate: 768, Layers: 6, Heads: 6, KVHead: 2, Vocab: 32000,
			Description: "15M parameters, grouped-query attention (2 KV heads)"},
		{Name: "demo-110m-gqa", Hidden: 768, Intermediate: 2048, Layers: 12, Heads: 12, KVHead: 4, Vocab: 32000,
			Description: "110M-class, grouped-query attention (4 KV heads)"},
		// 98M parameters of which a token uses 27M: the experts hold 94M and
		// a token reads 2 of each layer's 8.
		{Name: "demo-100m-moe", Hidden: 512, Layers: 4, Heads: 8, KVHead: 2, Vocab: 2048,
			MoE:         &MoESpec{Experts: 8, TopK: 2, ExpertIntermediate: 1920, HeadDim: 64, RouterStd: 0.06},
			Description: "100M-class mixture of experts (Qwen3-MoE layout): 8 experts, top-2, 27M active"},
	}
}

// Lookup returns the spec named name.
func Lookup(name string) (Spec, error) {
	var names []string
	for _, s := range Specs() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	for _, q := range QuantSpecs() {
		names = append(names, q.Name)
	}
	return Spec{}, fmt.Errorf("no demo model named %q (available: %v)", name, names)
}

// WriteAll writes every demo model into dir/<name>, then the quantized
// demos (dir/<name>.gguf, see QuantSpecs), calling progress (may be nil)
// before each. It returns the paths written.
func WriteAll(dir string, progress func(s Spec)) ([]string, error) {
	var out []string
	for _, s := range Specs() {
		if progress != nil {
			progress(s)
		}
		p, err := Write(dir, s.Name)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	for _, q := range QuantSpecs() {
		if progress != nil {
			progress(Spec{Name: q.Name, Description: q.Description})
		}
		p, err := WriteQuantized(dir, q)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Names lists every demo: the model folders, then the quantized GGUF files.
func Names() []string {
	var names []string
	for _, s := range Specs() {
		names = append(names, s.Name)
	}
	for _, q := range QuantSpecs() {
		names = append(names, q.Name)
	}
	return names
}

// Write writes the demo model name into dir/name and returns that folder.
// The bytes are the same on every run and machine. Files are written to
// temporary names and renamed, so an interrupted write leaves no half model.
//
// A quantized demo's name (QuantSpecs) writes its GGUF file instead.
func Write(dir, name string) (string, error) {
	if q, ok := lookupQuant(name); ok {
		return WriteQuantized(dir, q)
	}
	s, err := Lookup(name)
	if err != nil {
		return "", err
	}
	return WriteSpec(dir, s)
}

// WriteSpec writes the model described by s into dir/s.Name.
func WriteSpec(dir string, s Spec) (string, error) {
	folder := filepath.Join(dir, s.Name)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", fmt.Errorf("demo model %s: %w (choose a writable --dir)", s.Name, err)
	}
	tok, err := tokenizer.BuildDemoByteLevel(TokenizerMerges)
	if err != nil {
		return "", fmt.Errorf("demo model %s: tokenizer: %w", s.Name, err)
	}
	if tv := tokenizer.DemoVocabSize(TokenizerMerges); s.Vocab < tv {
		return "", fmt.Errorf("demo model %s: vocab %d is smaller than the tokenizer's %d", s.Name, s.Vocab, tv)
	}
	bos, eos := tokenizer.DemoSpecialIDs(TokenizerMerges)
	cfg, err := json.MarshalIndent(configJSON(s, bos, eos), "", "  ")
	if err != nil {
		return "", err
	}
	gen, err := json.MarshalIndent(map[string]any{"bos_token_id": bos, "eos_token_id": eos, "do_sample": false}, "", "  ")
	if err != nil {
		return "", err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"config.json", append(cfg, '\n')},
		{"generation_config.json", append(gen, '\n')},
		{"tokenizer.json", tok},
		{MarkerFile, []byte(fmt.Sprintf("%s: %s.\n\n%s\n", s.Name, s.Description, Note))},
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(folder, f.name), func(path string) error {
			return os.WriteFile(path, f.data, 0o644)
		}); err != nil {
			return "", fmt.Errorf("demo model %s: %w", s.Name, err)
		}
	}
	w, err := weights(s)
	if err != nil {
		return "", fmt.Errorf("demo model %s: %w", s.Name, err)
	}
	if err := writeAtomic(filepath.Join(folder, "model.safetensors"), w.WriteFile); err != nil {
		return "", fmt.Errorf("demo model %s: %w", s.Name, err)
	}
	return folder, nil
}

func writeAtomic(path string, write func(tmp string) error) error {
	tmp := path + ".tmp"
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func configJSON(s Spec, bos, eos int) map[string]any {
	if m := s.MoE; m != nil {
		return map[string]any{
			"architectures":           []string{"Qwen3MoeForCausalLM"},
			"model_type":              "qwen3_moe",
			"hidden_size":             s.Hidden,
			"intermediate_size":       m.ExpertIntermediate, // no dense layers; kept equal for readers that expect the key
			"num_hidden_layers":       s.Layers,
			"num_attention_heads":     s.Heads,
			"num_key_value_heads":     s.KVHead,
			"head_dim":                m.HeadDim,
			"vocab_size":              s.Vocab,
			"num_experts":             m.Experts,
			"num_experts_per_tok":     m.TopK,
			"moe_intermediate_size":   m.ExpertIntermediate,
			"norm_topk_prob":          true,
			"decoder_sparse_step":     1,
			"mlp_only_layers":         []int{},
			"max_position_embeddings": 2048,
			"rms_norm_eps":            1e-6,
			"rope_theta":              1000000.0,
			"hidden_act":              "silu",
			"tie_word_embeddings":     true,
			"torch_dtype":             "bfloat16",
			"bos_token_id":            bos,
			"eos_token_id":            eos,
			"energyprofiler_demo":     Note,
		}
	}
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Intermediate,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHead,
		"vocab_size":              s.Vocab,
		"max_position_embeddings": 2048,
		"rms_norm_eps":            1e-5,
		"rope_theta":              10000.0,
		"hidden_act":              "silu",
		"tie_word_embeddings":     true,
		"torch_dtype":             "bfloat16",
		"bos_token_id":            bos,
		"eos_token_id":            eos,
		"energyprofiler_demo":     Note,
	}
}

// weights stages every tensor of s with seeded random values: N(0, initStd)
// for matrices, 1 for norm weights. Each tensor has its own generator seeded
// from its name, so the values do not depend on write order.
func weights(s Spec) (*model.Writer, error) {
	cfg, err := model.ParseConfig(mustJSON(configJSON(s, 0, 0)))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	specs := cfg.ExpectedTensors()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	w := model.NewWriter()
	w.SetMetadata("format", "pt")
	for _, t := range specs {
		n := int(t.Elements())
		data := make([]byte, 2*n)
		if len(t.Shape) == 1 { // norm weight
			one := model.Float32ToBF16(1)
			for i := range n {
				binary.LittleEndian.PutUint16(data[2*i:], one)
			}
		} else {
			h := fnv.New64a()
			h.Write([]byte(s.Name + "/" + t.Name))
			rng := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
			std := initStd
			if s.MoE != nil && t.Shape[0] == s.MoE.Experts && strings.HasSuffix(t.Name, ".mlp.gate.weight") {
				std = s.MoE.RouterStd
			}
			for i := range n {
				v := float32(rng.NormFloat64() * std)
				binary.LittleEndian.PutUint16(data[2*i:], bf16(v))
			}
		}
		if err := w.Add(t.Name, model.BF16, t.Shape, data); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// bf16 rounds to nearest even (values here are always finite).
func bf16(f float32) uint16 {
	b := math.Float32bits(f)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
