package tokenizer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dlclark/regexp2"
)

// TestWordSplitterMatchesRegex runs the hand-written splitters and a
// backtracking regex engine (regexp2) on the same random texts: they must
// find identical matches.
func TestWordSplitterMatchesRegex(t *testing.T) {
	patterns := map[string]string{"gpt2": gpt2Pattern, "llama3": llama3Pattern, "qwen2": qwen2Pattern}
	// Letters incl. the contraction letters in both cases, digits (ASCII and
	// other scripts), every kind of whitespace, apostrophes and punctuation.
	alphabet := []rune("sStTrReEvVmMlLdDaxZ é日ß0123٣²\t\n\r\v\f \u00a0\u3000\u2028''''.,!?-_()<>|😀\u200d\u0301")
	rng := rand.New(rand.NewPCG(7, 11))
	texts := []string{"", " ", "  ", "a  b", "x \n y", "  \n\n  z", "'s'S'RE're", "123456789", " 1 22 333 4444"}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(24) + 1 {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	for name, p := range patterns {
		fast, err := compileRegex(p)
		if err != nil || fast.words == nil {
			t.Fatalf("%s: pattern not recognised as a known family", name)
		}
		slow := &regex{re: regexp2.MustCompile(p, regexp2.Unicode)}
		for _, text := range texts {
			got, want := fast.findAll(text), slow.findAll(text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s on %q:\n hand-written %v\n regexp2      %v", name, text, pieces(text, got), pieces(text, want))
			}
		}
	}
}

func pieces(s string, ranges [][2]int) []string {
	var out []string
	for _, r := range ranges {
		out = append(out, s[r[0]:r[1]])
	}
	return out
}

// TestSplitBehaviors uses the examples from the Hugging Face tokenizers
// documentation of SplitDelimiterBehavior.
func TestSplitBehaviors(t *testing.T) {
	word := "the-final--countdown"
	tests := []struct {
		behavior string
		want     []string
	}{
		{"Removed", []string{"the", "final", "countdown"}},
		{"Isolated", []string{"the", "-", "final", "-", "-", "countdown"}},
		{"MergedWithPrevious", []string{"the-", "final-", "-", "countdown"}},
		{"MergedWithNext", []string{"the", "-final", "-", "-countdown"}},
		{"Contiguous", []string{"the", "-", "final", "--", "countdown"}},
	}
	for _, tt := range tests {
		raw := fmt.Sprintf(`{"type":"Split","pattern":{"String":"-"},"behavior":%q,"invert":false}`, tt.behavior)
		p, err := parsePreTokenizer(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.preTokenize([]string{word}, true); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.behavior, got, tt.want)
		}
	}
}

func TestMetaspaceSplit(t *testing.T) {
	p := &metaspacePreTok{replacement: "▁", scheme: "always", split: true}
	got := p.preTokenize([]string{"Hey   friend!"}, true)
	want := []string{"▁Hey", "▁", "▁", "▁friend!"} // Hugging Face's own test case
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	first := &metaspacePreTok{replacement: "▁", scheme: "first"}
	if got := first.preTokenize([]string{"a b"}, false); got[0] != "a▁b" {
		t.Errorf("scheme first, not at start: got %q, want no prefix", got)
	}
}

// miniTokenizer builds a tokenizer.json around a tiny vocabulary.
func miniTokenizer(t *testing.T, model string, extra string) *Tokenizer {
	t.Helper()
	raw := `{"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "decoder": null` + extra + `, "model": ` + model + `}`
	tk, err := Parse([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return tk
}

func TestMergeFormsAndRanks(t *testing.T) {
	vocab := `{"a":0,"b":1,"c":2,"ab":3,"bc":4,"abc":5}`
	for _, merges := range []string{`["b c","a b","ab c"]`, `[["b","c"],["a","b"],["ab","c"]]`} {
		// "b c" has the better rank, so "abc" becomes a + bc, and there is
		// no (a, bc) merge: the result is two tokens.
		tk := miniTokenizer(t, `{"type":"BPE","vocab":`+vocab+`,"merges":`+merges+`}`, "")
		if got := tk.Encode("abc", false); !slices.Equal(got, []int{0, 4}) {
			t.Errorf("merges %s: got %v, want [0 4]", merges, got)
		}
	}
	tk := miniTokenizer(t, `{"type":"BPE","vocab":`+vocab+`,"merges":[["a","b"],["b","c"],["ab","c"]]}`, "")
	if got := tk.Encode("abc", false); !slices.Equal(got, []int{5}) {
		t.Errorf("a b first: got %v, want [5]", got)
	}
}

func TestIgnoreMerges(t *testing.T) {
	// "abc" is in the vocab but unreachable through merges; with
	// ignore_merges a whole word that is in the vocab wins directly.
	vocab := `{"a":0,"b":1,"c":2,"bc":3,"abc":4}`
	base := `{"type":"BPE","vocab":` + vocab + `,"merges":[["b","c"]]`
	if got := miniTokenizer(t, base+`}`, "").Encode("abc", false); !slices.Equal(got, []int{0, 3}) {
		t.Errorf("without ignore_merges: got %v, want [0 3]", got)
	}
	if got := miniTokenizer(t, base+`,"ignore_merges":true}`, "").Encode("abc", false); !slices.Equal(got, []int{4}) {
		t.Errorf("with ignore_merges: got %v, want [4]", got)
	}
}

func TestUnknownAndByteFallback(t *testing.T) {
	vocab := `{"<unk>":0,"a":1,"<0xC3>":2,"<0xA9>":3}`
	fused := miniTokenizer(t, `{"type":"BPE","vocab":`+vocab+`,"merges":[],"unk_token":"<unk>","fuse_unk":true}`, "")
	if got := fused.Encode("axyza", false); !slices.Equal(got, []int{1, 0, 1}) {
		t.Errorf("fuse_unk: got %v, want [1 0 1]", got)
	}
	unfused := miniTokenizer(t, `{"type":"BPE","vocab":`+vocab+`,"merges":[],"unk_token":"<unk>"}`, "")
	if got := unfused.Encode("axya", false); !slices.Equal(got, []int{1, 0, 0, 1}) {
		t.Errorf("no fuse_unk: got %v, want [1 0 0 1]", got)
	}
	fb := miniTokenizer(t, `{"type":"BPE","vocab":`+vocab+`,"merges":[],"unk_token":"<unk>","byte_fallback":true}`,
		`, "decoder": {"type":"Sequence","decoders":[{"type":"ByteFallback"},{"type":"Fuse"}]}`)
	ids := fb.Encode("aéx", false) // é = C3 A9 has byte tokens, x does not
	if !slices.Equal(ids, []int{1, 2, 3, 0}) {
		t.Errorf("byte_fallback: got %v, want [1 2 3 0]", ids)
	}
	if got := fb.Decode([]int{1, 2, 3}); got != "aé" {
		t.Errorf("decode byte tokens: %q", got)
	}
	if got := fb.Decode([]int{1, 2, 1}); got != "a\uFFFDa" {
		t.Errorf("decode a lone lead byte: %q, want one U+FFFD", got)
	}
}

func TestAddedTokenOptions(t *testing.T) {
	model := `{"type":"BPE","vocab":{" ":0,"a":1,"b":2,"<x>":3,"<xy>":4,"[L]":5,"[R]":6,"W":7},"merges":[]}`
	added := `[{"id":3,"content":"<x>","special":true},{"id":4,"content":"<xy>","special":true},
		{"id":5,"content":"[L]","lstrip":true},{"id":6,"content":"[R]","rstrip":true},
		{"id":7,"content":"W","single_word":true}]`
	raw := `{"added_tokens":` + added + `,"model":` + model + `}`
	tk, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int
	}{
		{"a<xy>b", []int{1, 4, 2}},      // longest match wins
		{"a<x>b", []int{1, 3, 2}},       //
		{"a  [L]b", []int{1, 5, 2}},     // lstrip eats the spaces before
		{"a[R]  b", []int{1, 6, 2}},     // rstrip eats the spaces after
		{"a W b", []int{1, 0, 7, 0, 2}}, // single word: matched
		{"aWb", []int{1, 7, 2}},         // glued to letters: "W" is then plain text (still id 7 from the vocab)
	}
	for _, tt := range tests {
		if got := tk.Encode(tt.text, false); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.text, got, tt.want)
		}
	}
	if !tk.IsSpecial(3) || tk.IsSpecial(5) || !slices.Equal(tk.SpecialIDs(), []int{3, 4}) {
		t.Errorf("special ids: %v", tk.SpecialIDs())
	}
	secs := tk.added.split("aWb")
	if len(secs) != 1 || secs[0].id != -1 {
		t.Errorf("single_word token matched inside a word: %+v", secs)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"not json", `{`, "parse tokenizer.json"},
		{"no model", `{}`, "missing or malformed"},
		{"huge id", `{"model":{"type":"BPE","vocab":{"a":2000000000},"merges":[]}}`, "outside 0.."},
		{"huge added id", `{"added_tokens":[{"id":2000000000,"content":"<x>"}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, "outside 0.."},
		{"unigram", `{"model":{"type":"Unigram","vocab":[]}}`, `"Unigram" is not supported`},
		{"wordpiece", `{"model":{"type":"WordPiece","vocab":{"a":0}}}`, "only BPE"},
		{"bad merge", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}`, "not in the vocab"},
		{"merge shape", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}}`, "exactly two tokens"},
		{"unk missing", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}`, "unk_token"},
		{"normalizer", `{"normalizer":{"type":"Precompiled"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, `normalizer type "Precompiled" is not supported`},
		{"pretok", `{"pre_tokenizer":{"type":"BertPreTokenizer"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, "supported: Sequence"},
		{"decoder", `{"decoder":{"type":"WordPiece"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, `decoder type "WordPiece"`},
		{"template", `{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}}],"special_tokens":{}},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, `"<s>" is unknown`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := Load("testdata/does-not-exist.json"); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestPieceAndID(t *testing.T) {
	tk := loadFamily(t, "qwen3")
	id, ok := tk.ID("<|im_end|>")
	if !ok || tk.Piece(id) != "<|im_end|>" || !tk.IsSpecial(id) {
		t.Fatalf("ID(<|im_end|>) = %d %v", id, ok)
	}
	hello := tk.Encode("Hello world", false)
	if got := tk.Piece(hello[1]); got != "Ġworld" {
		t.Errorf("Piece = %q, want the byte-level form Ġworld", got)
	}
	if tk.Piece(-1) != "" || tk.Piece(tk.VocabSize()) != "" {
		t.Error("Piece of an out-of-range id must be empty")
	}
	if tk.VocabSize() != 151669 { // 151643 merges-vocab entries + 26 added tokens
		t.Errorf("VocabSize = %d", tk.VocabSize())
	}
	sp := loadFamily(t, "mistral")
	if bos, ok := sp.BOS(); !ok || bos != 1 {
		t.Errorf("mistral BOS = %d %v, want 1 (from the template)", bos, ok)
	}
	if eos, ok := sp.EOS(); !ok || eos != 2 {
		t.Errorf("mistral EOS = %d %v, want 2", eos, ok)
	}
}

// TestStreamDecoderHoldsIncompleteBytes checks the stream never emits part
// of a character, for byte fallback and byte-level tokens alike.
func TestStreamDecoderHoldsIncompleteBytes(t *testing.T) {
	sp := loadFamily(t, "mistral")
	byteIDs := func(s string) []int {
		var ids []int
		for i := 0; i < len(s); i++ {
			id, ok := sp.ID(fmt.Sprintf("<0x%02X>", s[i]))
			if !ok {
				t.Fatalf("no byte token for %#x", s[i])
			}
			ids = append(ids, id)
		}
		return ids
	}
	sd := sp.NewStreamDecoder()
	ids := byteIDs("😀") // 4 byte tokens
	for i, id := range ids[:3] {
		if out := sd.Next(id); out != "" {
			t.Fatalf("byte %d: emitted %q before the character was complete", i, out)
		}
	}
	if out := sd.Next(ids[3]); out != "😀" {
		t.Fatalf("last byte: got %q, want the emoji", out)
	}
	// A lone lead byte followed by text: after maxPending it must come out
	// as U+FFFD rather than block the stream forever.
	sd = sp.NewStreamDecoder()
	var got strings.Builder
	for _, id := range append(byteIDs("\xF0"), sp.Encode(" ok then more words", false)...) {
		got.WriteString(sd.Next(id))
	}
	got.WriteString(sd.Flush())
	if !strings.Contains(got.String(), "\uFFFD") || !strings.HasSuffix(got.String(), "more words") {
		t.Errorf("invalid byte stream produced %q", got.String())
	}

	bl := loadFamily(t, "demo")
	sd = bl.NewStreamDecoder()
	var out strings.Builder
	for _, id := range bl.Encode("日本", false) { // 6 single-byte tokens in the demo vocab
		s := sd.Next(id)
		if s != "" && s != "日" && s != "本" {
			t.Fatalf("byte-level stream emitted %q", s)
		}
		out.WriteString(s)
	}
	if out.String() != "日本" {
		t.Errorf("byte-level stream: %q", out.String())
	}
}

// TestConcurrentEncode shares one tokenizer (and its word cache) between
// goroutines; run with -race.
func TestConcurrentEncode(t *testing.T) {
	tk := loadFamily(t, "qwen3")
	texts := []string{"The quick brown fox", "def f(x):\n    return x*2\n", "日本語のテキスト", "emoji 😀 ok"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tk.Encode(s, false)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				i := (g + k) % len(texts)
				if got := tk.Encode(texts[i], false); !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("%q: %v != %v", texts[i], got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestWordCacheBounded(t *testing.T) {
	c := newWordCache(10)
	for i := range 25 {
		c.put(fmt.Sprint(i), []int{i})
	}
	if len(c.m) > 10 {
		t.Fatalf("cache holds %d entries, bound is 10", len(c.m))
	}
	ids := []int{1, 2}
	c.put("x", ids)
	ids[0] = 99 // the cache must hold its own copy
	if got, _ := c.get("x"); got[0] != 1 {
		t.Fatal("cache aliases the caller's slice")
	}
	c.put(strings.Repeat("y", wordCacheMaxLen+1), []int{1})
	if _, ok := c.get(strings.Repeat("y", wordCacheMaxLen+1)); ok {
		t.Fatal("over-long words must not be cached")
	}
}

// TestLlama3StylePostProcessor: Meta's Llama-3 tokenizer.json uses
// Sequence[ByteLevel, TemplateProcessing("<|begin_of_text|> $A")].
func TestLlama3StylePostProcessor(t *testing.T) {
	raw := `{"added_tokens":[{"id":3,"content":"<|begin_of_text|>","special":true}],
		"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
		"post_processor":{"type":"Sequence","processors":[
			{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},
			{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
			 "special_tokens":{"<|begin_of_text|>":{"id":"<|begin_of_text|>","ids":[3],"tokens":["<|begin_of_text|>"]}}}]},
		"decoder":{"type":"ByteLevel"},
		"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2` + byteAlphabetVocab(4) + `},"merges":["a b"]}}`
	tk, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("ab", true); !slices.Equal(got, []int{3, 2}) {
		t.Errorf("Encode with special = %v, want [3 2]", got)
	}
	if got := tk.Encode("ab", false); !slices.Equal(got, []int{2}) {
		t.Errorf("Encode without special = %v, want [2]", got)
	}
	if bos, ok := tk.BOS(); !ok || bos != 3 {
		t.Errorf("BOS = %d %v, want 3", bos, ok)
	}
}

// TestDigitsThenByteLevel is the SmolLM/StarCoder layout: Digits with
// individual digits in front of the GPT-2 ByteLevel split.
func TestDigitsThenByteLevel(t *testing.T) {
	raw := `{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},
		{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}]}`
	p, err := parsePreTokenizer(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	got := p.preTokenize([]string{"abc 123 x"}, true)
	want := []string{"abc", "Ġ", "1", "2", "3", "Ġx"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	runs := digitsPreTok{individual: false}.preTokenize([]string{"a12b345"}, true)
	if !slices.Equal(runs, []string{"a", "12", "b", "345"}) {
		t.Errorf("digit runs: %q", runs)
	}
}

// byteAlphabetVocab lists the byte-level alphabet's other characters as
// vocab entries from id next on (a byte-level vocab must hold all 256).
func byteAlphabetVocab(next int) string {
	var b strings.Builder
	for i := 0; i < 256; i++ {
		r := byteToRune(byte(i))
		if r == 'a' || r == 'b' {
			continue
		}
		q, _ := json.Marshal(string(r))
		fmt.Fprintf(&b, ",%s:%d", q, next)
		next++
	}
	return b.String()
}
