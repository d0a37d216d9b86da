package demo

import (
	"fmt"
	"path/filepath"
	"strings"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// QuantSpec is a quantized demo: a demo model converted to GGUF and
// quantized the way llama.cpp's llama-quantize does it (its reference
// quantizers, its choice of type per tensor), so the dashboard can show what
// quantization does to energy per token next to the BF16 original.
type QuantSpec struct {
	Name        string // the file is Name + ".gguf"
	Base        string // the demo model it is made from
	Type        string // llama.cpp's file type name: Q8_0, Q4_K_M
	FileType    uint32 // general.file_type (llama_ftype)
	Description string
}

// GGUFMarkerKey is the metadata key every quantized demo carries (with
// Note); package modeldir recognises demo GGUF files by it.
const GGUFMarkerKey = "energyprofiler.demo"

// QuantSpecs lists the quantized demos.
func QuantSpecs() []QuantSpec {
	return []QuantSpec{
		{Name: "demo-110m-gqa-q8_0", Base: "demo-110m-gqa", Type: "Q8_0", FileType: 7,
			Description: "demo-110m-gqa quantized to Q8_0 (GGUF, 8.5 bits per weight)"},
		{Name: "demo-110m-gqa-q4_0", Base: "demo-110m-gqa", Type: "Q4_0", FileType: 2,
			Description: "demo-110m-gqa quantized to Q4_0 (GGUF, 4.5 bits per weight)"},
		{Name: "demo-110m-gqa-q4_k_m", Base: "demo-110m-gqa", Type: "Q4_K_M", FileType: 15,
			Description: "demo-110m-gqa quantized to Q4_K_M (GGUF, ~4.9 bits per weight)"},
	}
}

// FileName is the GGUF file name of a quantized demo.
func (q QuantSpec) FileName() string { return q.Name + ".gguf" }

func lookupQuant(name string) (QuantSpec, bool) {
	name = strings.TrimSuffix(name, ".gguf")
	for _, q := range QuantSpecs() {
		if q.Name == name {
			return q, true
		}
	}
	return QuantSpec{}, false
}

// WriteQuantized writes the quantized demo q into dir/q.FileName(), from
// its base demo folder in dir (written first when missing or unreadable).
// The bytes are the same on every run and machine.
func WriteQuantized(dir string, q QuantSpec) (string, error) {
	base := filepath.Join(dir, q.Base)
	m, err := model.Open(base)
	if err != nil {
		if base, err = Write(dir, q.Base); err != nil {
			return "", err
		}
		if m, err = model.Open(base); err != nil {
			return "", fmt.Errorf("demo model %s: %w", q.Name, err)
		}
	}
	defer m.Close()
	tj, err := tokenizer.BuildDemoByteLevel(TokenizerMerges)
	if err != nil {
		return "", fmt.Errorf("demo model %s: tokenizer: %w", q.Name, err)
	}
	tok, err := tokenizer.Parse(tj)
	if err != nil {
		return "", fmt.Errorf("demo model %s: tokenizer: %w", q.Name, err)
	}
	w := model.NewGGUFWriter()
	if err := model.WriteGGUF(m, w, q.Name, q.FileType, quantEncoder(q.Type, m.Config.NumLayers, m.Config.TieWordEmbeddings)); err != nil {
		return "", fmt.Errorf("demo model %s: %w", q.Name, err)
	}
	bos, eos := tokenizer.DemoSpecialIDs(TokenizerMerges)
	// The token list padded to the embedding's rows, so llama.cpp loads the file too.
	if err := tok.WriteGGUFVocab(w, "gpt-2", bos, eos, true, m.Config.VocabSize); err != nil {
		return "", fmt.Errorf("demo model %s: %w", q.Name, err)
	}
	w.SetString(GGUFMarkerKey, fmt.Sprintf("%s: %s. %s", q.Name, q.Description, Note))
	path := filepath.Join(dir, q.FileName())
	if err := writeAtomic(path, w.WriteFile); err != nil {
		return "", fmt.Errorf("demo model %s: %w", q.Name, err)
	}
	return path, nil
}

// quantEncoder picks each tensor's type as llama.cpp's llama_tensor_get_type
// does for the file type: Q8_0 everywhere; for Q4_0, Q4_0 with Q6_K for the
// output (the embedding when tied); for Q4_K_M, Q4_K with Q6_K for
// the output (the embedding when tied) and for attn_v and ffn_down in the
// layers use_more_bits selects. Vectors stay F32.
func quantEncoder(fileType string, layers int, tied bool) model.GGUFEncoder {
	useMoreBits := func(i int) bool { return i < layers/8 || i >= 7*layers/8 || (i-layers/8)%3 == 2 }
	return func(name string, shape []int, values []float32) (model.GGMLType, []byte, error) {
		if len(shape) < 2 {
			return model.FloatEncoder(model.F32)(name, shape, values)
		}
		dt, typ := compute.Q8_0, model.GGMLQ8_0
		output := name == "output.weight" || name == "token_embd.weight" && tied
		if fileType == "Q4_0" {
			dt, typ = compute.Q4_0, model.GGMLQ4_0
			if output {
				dt, typ = compute.Q6_K, model.GGMLQ6_K
			}
		}
		if fileType == "Q4_K_M" {
			dt, typ = compute.Q4_K, model.GGMLQ4_K
			var layer int
			switch {
			case output:
				dt, typ = compute.Q6_K, model.GGMLQ6_K
			case strings.HasSuffix(name, ".attn_v.weight"), strings.HasSuffix(name, ".ffn_down.weight"):
				if _, err := fmt.Sscanf(name, "blk.%d.", &layer); err == nil && useMoreBits(layer) {
					dt, typ = compute.Q6_K, model.GGMLQ6_K
				}
			}
		}
		data, err := compute.Quantize(dt, values, shape[len(shape)-1])
		return typ, data, err
	}
}
