package demo

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

func hashDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		out[e.Name()] = sum
	}
	return out
}

// TestWriteIsDeterministicAndLoads writes the small demo models twice and
// compares every file's hash, then loads them through the normal loader and
// tokenizer.
func TestWriteIsDeterministicAndLoads(t *testing.T) {
	for _, name := range []string{"demo-15m-mha", "demo-15m-gqa"} {
		a, b := t.TempDir(), t.TempDir()
		pa, err := Write(a, name)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := Write(b, name)
		if err != nil {
			t.Fatal(err)
		}
		ha, hb := hashDir(t, pa), hashDir(t, pb)
		for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", MarkerFile} {
			if _, ok := ha[f]; !ok {
				t.Fatalf("%s: %s missing", name, f)
			}
			if ha[f] != hb[f] {
				t.Errorf("%s: %s differs between two writes", name, f)
			}
		}
		if len(ha) != 5 {
			t.Errorf("%s: %d files, want 5 (no temporary files left)", name, len(ha))
		}
		m, err := model.Open(pa)
		if err != nil {
			t.Fatalf("%s: load: %v", name, err)
		}
		s, _ := Lookup(name)
		if m.Config.NumKVHeads != s.KVHead || m.Config.HiddenSize != s.Hidden || m.Embedding().DType != model.BF16 {
			t.Errorf("%s: loaded config %+v does not match the spec", name, m.Config)
		}
		_, eos := tokenizer.DemoSpecialIDs(TokenizerMerges)
		if len(m.Config.EOSTokenIDs) == 0 || m.Config.EOSTokenIDs[0] != eos {
			t.Errorf("%s: EOS ids %v, want %d first", name, m.Config.EOSTokenIDs, eos)
		}
		m.Close()
		tok, err := tokenizer.Load(filepath.Join(pa, "tokenizer.json"))
		if err != nil {
			t.Fatalf("%s: tokenizer: %v", name, err)
		}
		if got := tok.Decode(tok.Encode("hello world", false)); got != "hello world" {
			t.Errorf("%s: tokenizer round trip gave %q", name, got)
		}
	}
}

func TestDifferentModelsDifferentWeights(t *testing.T) {
	dir := t.TempDir()
	pa, _ := Write(dir, "demo-15m-mha")
	pb, _ := Write(dir, "demo-15m-gqa")
	if hashDir(t, pa)["model.safetensors"] == hashDir(t, pb)["model.safetensors"] {
		t.Error("two different demo models have identical weights")
	}
	if _, err := Write(dir, "demo-nope"); err == nil {
		t.Error("unknown demo name accepted")
	}
}

// The MoE demo is a Qwen3-MoE mixture of experts of about 100M parameters
// of which a token uses about a quarter, as its description says (facts
// from its config alone: writing its 200 MB takes half a minute under the
// race detector), and an MoE spec of the same layout at toy size writes and
// loads through the real loader.
func TestMoEDemo(t *testing.T) {
	s, err := Lookup("demo-100m-moe")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig(mustJSON(configJSON(s, 0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Facts()
	if !f.MoE || f.Experts != 8 || f.TopK != 2 || f.SharedExperts != 0 || f.MoELayers != f.Layers || f.ModelType != "qwen3_moe" {
		t.Errorf("facts %+v", f)
	}
	if f.ParamsTotal < 95e6 || f.ParamsTotal > 105e6 || f.ParamsActive < 25e6 || f.ParamsActive > 30e6 {
		t.Errorf("params %d total, %d active; want about 100M and 25-30M", f.ParamsTotal, f.ParamsActive)
	}

	toy := s
	toy.Name, toy.Hidden, toy.Layers = "toy-moe", 64, 2
	toy.MoE = &MoESpec{Experts: 4, TopK: 2, ExpertIntermediate: 32, HeadDim: 16, RouterStd: s.MoE.RouterStd}
	p, err := WriteSpec(t.TempDir(), toy)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Facts(); !got.MoE || got.Experts != 4 || len(m.Layer(1).Experts) != 4 {
		t.Errorf("toy MoE facts %+v", got)
	}
	// The router is sharper than the experts' random init, so routing is
	// not near-uniform.
	router, _ := m.Tensor("model.layers.0.mlp.gate.weight")
	w, _ := router.Float32s()
	var ss float64
	for _, v := range w {
		ss += float64(v) * float64(v)
	}
	if variance := ss / float64(len(w)); variance < 4*initStd*initStd {
		t.Errorf("router weight variance %g, want the sharper router init (std %g)", variance, s.MoE.RouterStd)
	}
}

// TestQuantizedDemoLoadsInLlamaCpp checks what llama.cpp needs to load a
// quantized demo (make bench-llamacpp loads the very file): as many tokens as
// the embedding has rows. The padding must not change how text tokenizes.
func TestQuantizedDemoLoadsInLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes a 110M model")
	}
	dir := t.TempDir()
	q := QuantSpecs()[0]
	path, err := WriteQuantized(dir, q)
	if err != nil {
		t.Fatal(err)
	}
	g, _, release, err := model.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := g.Strings("tokenizer.ggml.tokens")
	release()
	m, err := model.Open(filepath.Join(dir, q.Base))
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Config.VocabSize
	m.Close()
	if len(tokens) != vocab {
		t.Errorf("%s: %d tokens, want the embedding's %d rows", q.Name, len(tokens), vocab)
	}
	fromGGUF, err := tokenizer.LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	fromFolder, err := tokenizer.Load(filepath.Join(dir, q.Base, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	const text = "Energy per token, measured: 42 joules? [PAD1999] <unk> héllo"
	a, b := fromGGUF.Encode(text, true), fromFolder.Encode(text, true)
	if !slices.Equal(a, b) {
		t.Errorf("ids from the GGUF tokenizer %v, from the folder's %v", a, b)
	}
}
