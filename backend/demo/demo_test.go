package demo

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
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
