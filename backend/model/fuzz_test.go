package model

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseHeader feeds arbitrary files to the header parser: it must never
// panic, and whatever it accepts must be safe to slice: every tensor inside
// the data section, in order, sized by its shape and dtype. The seed corpus
// in testdata/fuzz/FuzzParseHeader runs as a regression test under plain
// `go test`.
func FuzzParseHeader(f *testing.F) {
	w := NewWriter()
	w.SetMetadata("format", "pt")
	w.AddFloat32("model.norm.weight", BF16, []int{4}, []float32{1, 2, 3, 4})
	w.AddFloat32("model.embed_tokens.weight", F32, []int{2, 2}, []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add(rawSafetensors(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))

	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := ParseHeader(file)
		if err != nil {
			return
		}
		if h.DataStart < 8 || h.DataStart > int64(len(file)) {
			t.Fatalf("data start %d outside a %d-byte file", h.DataStart, len(file))
		}
		next := int64(0)
		for _, ti := range h.Tensors {
			if ti.Begin != next || ti.End < ti.Begin || h.DataStart+ti.End > int64(len(file)) {
				t.Fatalf("tensor %q [%d, %d) breaks the tiling at %d (file %d bytes)", ti.Name, ti.Begin, ti.End, next, len(file))
			}
			if shapeElements(ti.Shape)*int64(ti.DType.Size()) != ti.End-ti.Begin {
				t.Fatalf("tensor %q: shape %v × %s does not match %d bytes", ti.Name, ti.Shape, ti.DType, ti.End-ti.Begin)
			}
			_ = file[h.DataStart+ti.Begin : h.DataStart+ti.End]
			next = ti.End
		}
		if h.DataStart+next != int64(len(file)) {
			t.Fatalf("tensors end at %d, file at %d", h.DataStart+next, len(file))
		}
	})
}

// FuzzParseConfig feeds arbitrary config.json contents to the parser: it
// must never panic, and whatever it accepts must be within the bounds every
// consumer relies on (so facts, the expected tensor list and the engine's
// buffers stay small).
func FuzzParseConfig(f *testing.F) {
	for _, c := range tinyConfigs() {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"model_type": "qwen2", "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 3,
		"num_attention_heads": 2, "vocab_size": 9, "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1,
		"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	f.Add([]byte(`{"model_type": "llama", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1099511627776,
		"num_attention_heads": 4, "vocab_size": 40}`))
	f.Add([]byte(`{"model_type": "phi3", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
		"num_attention_heads": 4, "vocab_size": 40, "layer_types": ["full_attention", "sliding_attention"], "sliding_window": 3}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config that Validate refuses: %v", err)
		}
		for _, v := range []struct {
			name     string
			got, max int
		}{
			{"layers", c.NumLayers, MaxLayers}, {"hidden", c.HiddenSize, MaxHiddenSize},
			{"intermediate", c.IntermediateSize, MaxIntermediateSize}, {"heads", c.NumHeads, MaxHeads},
			{"kv heads", c.NumKVHeads, c.NumHeads}, {"head dim", c.HeadDim, MaxHeadDim},
			{"vocab", c.VocabSize, MaxVocabSize}, {"positions", c.MaxPositionEmbeddings, MaxPositions},
		} {
			if v.got < 1 || v.got > v.max {
				t.Fatalf("%s = %d outside [1, %d]", v.name, v.got, v.max)
			}
		}
		if len(c.LayerTypes) != c.NumLayers {
			t.Fatalf("%d layer types for %d layers", len(c.LayerTypes), c.NumLayers)
		}
		f := c.Facts()
		if f.ParamsTotal <= 0 || f.ParamsTotal > MaxParameters {
			t.Fatalf("params %d outside (0, %d]", f.ParamsTotal, int64(MaxParameters))
		}
		if rd := c.RotaryDim(); rd < 2 || rd > c.HeadDim {
			t.Fatalf("rotary dim %d for head_dim %d", rd, c.HeadDim)
		}
	})
}

// FuzzParseGGUF feeds arbitrary files to the GGUF parser: it must never
// panic or allocate what a corrupt count claims, and whatever it accepts must
// be safe to slice: every tensor aligned, inside the data section and not
// overlapping another. Seeds: a writer-made file and the smallest fixture.
func FuzzParseGGUF(f *testing.F) {
	w := NewGGUFWriter()
	w.SetString("general.architecture", "llama")
	w.SetStrings("tokenizer.ggml.tokens", []string{"a", "b"})
	w.SetInt32s("tokenizer.ggml.token_type", []int32{1, 3})
	w.SetFloat32("llama.rope.freq_base", 10000)
	w.AddTensor("a", GGMLF32, []int64{4}, make([]byte, 16))
	w.AddTensor("b", GGMLQ8_0, []int64{32, 2}, make([]byte, 68))
	f.Add(w.Bytes())
	if seed, err := os.ReadFile("testdata/gguf/models/fx-qwen3-Q4_K_M.gguf"); err == nil {
		f.Add(seed[:min(len(seed), 4096)]) // the header
	}

	f.Fuzz(func(t *testing.T, file []byte) {
		g, err := ParseGGUF(file)
		if err != nil {
			return
		}
		if g.DataStart > int64(len(file)) || g.Alignment <= 0 {
			t.Fatalf("data start %d in a %d-byte file, alignment %d", g.DataStart, len(file), g.Alignment)
		}
		type span struct{ lo, hi int64 }
		var spans []span
		for _, ti := range g.Tensors {
			if ti.Offset%g.Alignment != 0 || ti.Size < 0 {
				t.Fatalf("tensor %q at %d size %d", ti.Name, ti.Offset, ti.Size)
			}
			_ = g.Data(file, ti)
			for _, s := range spans {
				if ti.Offset < s.hi && s.lo < ti.Offset+ti.Size {
					t.Fatalf("tensor %q overlaps [%d, %d)", ti.Name, s.lo, s.hi)
				}
			}
			spans = append(spans, span{ti.Offset, ti.Offset + ti.Size})
		}
		_, _ = ConfigFromGGUF(g, file)
	})
}
