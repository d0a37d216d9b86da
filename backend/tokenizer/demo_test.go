package tokenizer

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// demoGoldenMerges is the merge count of testdata/demo.tokenizer.json
// (vocabulary 512), which gen.js also cross-checks with the JS tokenizer.
const demoGoldenMerges = 254

func TestDemoGoldenFile(t *testing.T) {
	got, err := BuildDemoByteLevel(demoGoldenMerges)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "demo.tokenizer.json")
	if os.Getenv("UPDATE_DEMO_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Demo model folders written by earlier builds must keep matching, so the
	// trainer's output is pinned byte for byte.
	if !bytes.Equal(got, want) {
		t.Fatalf("BuildDemoByteLevel(%d) differs from %s; if the change is intended, rerun with UPDATE_DEMO_GOLDEN=1 and regenerate expected.json (see testdata/README.md)", demoGoldenMerges, path)
	}
	again, _ := BuildDemoByteLevel(demoGoldenMerges)
	if !bytes.Equal(got, again) {
		t.Fatal("BuildDemoByteLevel is not deterministic")
	}
}

func TestDemoTokenizerLoadsAndRoundTrips(t *testing.T) {
	for _, merges := range []int{0, 254, 766, DemoMaxMerges} {
		data, err := BuildDemoByteLevel(merges)
		if err != nil {
			t.Fatalf("merges %d: %v", merges, err)
		}
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tk, err := Load(path) // the same path a downloaded model takes
		if err != nil {
			t.Fatalf("merges %d: %v", merges, err)
		}
		if got, want := tk.VocabSize(), DemoVocabSize(merges); got != want {
			t.Errorf("merges %d: VocabSize = %d, want %d", merges, got, want)
		}
		wantBOS, wantEOS := DemoSpecialIDs(merges)
		if id, ok := tk.BOS(); !ok || id != wantBOS {
			t.Errorf("merges %d: BOS = %d %v, want %d", merges, id, ok, wantBOS)
		}
		if id, ok := tk.EOS(); !ok || id != wantEOS {
			t.Errorf("merges %d: EOS = %d %v, want %d", merges, id, ok, wantEOS)
		}
		for b := 0; b < 256; b++ {
			if got := tk.Encode(string([]byte{byte(b)}), false); len(got) != 1 || got[0] != b {
				t.Fatalf("merges %d: byte %#x encodes to %v, want [%d]", merges, b, got, b)
			}
		}
		texts := []string{
			"Hello, world! The energy of the model is measured.",
			"emoji 😀👍🏽🇺🇸👨‍👩‍👧 and CJK 日本語 中文 한국어",
			"  leading, trailing   \n\n\ttabs\r\n",
			"func main() {\n\tfmt.Println(\"hi\")\n}\n",
			"<|begin_of_text|>special<|end_of_text|>",
			"",
		}
		rng := rand.New(rand.NewPCG(1, uint64(merges)))
		for range 50 {
			texts = append(texts, randomText(rng, 40))
		}
		for _, text := range texts {
			ids := tk.Encode(text, false)
			if back := tk.Decode(ids); back != text {
				t.Errorf("merges %d: decode(encode(%q)) = %q", merges, text, back)
			}
			withBOS := tk.Encode(text, true)
			if len(withBOS) != len(ids)+1 || withBOS[0] != wantBOS || !slices.Equal(withBOS[1:], ids) {
				t.Errorf("merges %d: Encode(%q, true) = %v, want BOS then %v", merges, text, withBOS, ids)
			}
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("merges %d: id %d out of range", merges, id)
				}
			}
		}
		// Merges must actually compress English.
		sample := "the energy of the model and the tokens"
		if n := len(tk.Encode(sample, false)); merges >= 254 && n >= len(sample)/2 {
			t.Errorf("merges %d: %q takes %d tokens; merges are not being applied", merges, sample, n)
		}
	}
}

func TestDemoTooManyMerges(t *testing.T) {
	if _, err := BuildDemoByteLevel(DemoMaxMerges + 1); err == nil {
		t.Fatal("want an error above DemoMaxMerges")
	}
	if _, err := BuildDemoByteLevel(-1); err == nil {
		t.Fatal("want an error for negative merges")
	}
}

func TestDemoMergesArrayForm(t *testing.T) {
	data, err := BuildDemoByteLevel(10)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Model.Merges) != 10 {
		t.Fatalf("got %d merges, want 10", len(f.Model.Merges))
	}
	for _, m := range f.Model.Merges {
		if !strings.HasPrefix(strings.TrimSpace(string(m)), "[") {
			t.Fatalf("merge %s is not in the [a, b] array form", m)
		}
	}
}

// randomText mixes ASCII, whitespace, accented letters, CJK and emoji.
func randomText(rng *rand.Rand, n int) string {
	alphabet := []rune("abcXYZ019 \t\n\r'.,!?-_()<>|éüßñÅ日本語中文한국😀👍🏽\u200d\u00a0\u3000𝔢")
	var b strings.Builder
	for range rng.IntN(n) + 1 {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	s := b.String()
	if !utf8.ValidString(s) {
		panic("invalid test text")
	}
	return s
}
