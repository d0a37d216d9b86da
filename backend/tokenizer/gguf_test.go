package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"energyprofiler/backend/model"
)

// ggufFamilies are the reference families with the GGUF metadata llama.cpp's
// converter would write for them: the tokenizer.ggml.pre name of their
// pre-tokenizer, and whether the Hugging Face post-processor adds BOS.
var ggufFamilies = []struct {
	family, pre string
	bos, eos    string
	addBOS      bool
}{
	{"qwen3", "qwen2", "", "<|endoftext|>", false},
	{"llama3", "llama-bpe", "<|begin_of_text|>", "<|end_of_text|>", true},
	{"mistral", "", "<s>", "</s>", true},
	{"demo", "gpt-2", "<|begin_of_text|>", "<|end_of_text|>", true},
}

// TestGGUFTokenizerMatchesReference writes each reference tokenizer.json as
// GGUF metadata (as llama.cpp's converter does), reads it back with
// FromGGUF, and requires the independent reference ids of expected.json:
// the GGUF path must tokenize exactly like the Hugging Face tokenizer.
func TestGGUFTokenizerMatchesReference(t *testing.T) {
	e := loadExpected(t)
	for _, f := range ggufFamilies {
		t.Run(f.family, func(t *testing.T) {
			src := loadFamily(t, f.family)
			idOf := func(s string) int {
				if s == "" {
					return -1
				}
				id, ok := src.ID(s)
				if !ok {
					t.Fatalf("no token %q", s)
				}
				return id
			}
			w := model.NewGGUFWriter()
			w.SetString("general.architecture", "llama")
			if err := src.WriteGGUF(w, f.pre, idOf(f.bos), idOf(f.eos), f.addBOS); err != nil {
				t.Fatal(err)
			}
			g, err := model.ParseGGUF(w.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			tk, err := FromGGUF(g)
			if err != nil {
				t.Fatal(err)
			}
			if tk.VocabSize() != src.VocabSize() {
				t.Errorf("vocab size %d, want %d", tk.VocabSize(), src.VocabSize())
			}
			match := 0
			for i, c := range e.Families[f.family].Cases {
				if got := tk.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
					t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
					continue
				}
				if got := tk.Encode(c.Text, true); !slices.Equal(got, c.IDsSpecial) {
					t.Errorf("case %d %q with special tokens:\n got  %v\n want %v", i, c.Text, got, c.IDsSpecial)
					continue
				}
				if got := tk.Decode(c.IDs); got != src.Decode(c.IDs) {
					t.Errorf("case %d: decode %q, tokenizer.json's %q", i, got, src.Decode(c.IDs))
				}
				match++
			}
			t.Logf("%s via GGUF: %d/%d cases match", f.family, match, len(e.Families[f.family].Cases))
			for _, id := range src.SpecialIDs() {
				if !tk.IsSpecial(id) {
					t.Errorf("special id %d (%q) is not special via GGUF", id, src.Piece(id))
				}
			}
		})
	}
}

// TestGGUFFixtureTokenizer reads the tokenizer of a llama.cpp-made fixture
// (gpt2 model, pre gpt-2, 48 merges, padded vocabulary) and checks it
// against the source tokenizer.json the fixtures were converted from.
func TestGGUFFixtureTokenizer(t *testing.T) {
	path := filepath.Join("..", "model", "testdata", "gguf", "models", "fx-qwen2-Q5_K_M.gguf")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	tk, err := LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	if bos, _ := tk.BOS(); bos != 304 {
		t.Errorf("bos %d, want 304", bos)
	}
	if !tk.IsSpecial(304) || tk.Piece(304) != "<|endoftext|>" {
		t.Errorf("id 304 is %q special %v", tk.Piece(304), tk.IsSpecial(304))
	}
	// GPT-2 pre-tokenization: " the" is one word; "he" and " the" merge.
	text := "<|endoftext|>the cat, the hat 42"
	ids := tk.Encode(text, true)
	if ids[0] != 304 || tk.Decode(ids) != text {
		t.Errorf("encode %q = %v, decodes to %q", text, ids, tk.Decode(ids))
	}
	if len(ids) >= len(text) {
		t.Errorf("%d ids for %d bytes: the merges were not applied", len(ids), len(text))
	}
}
