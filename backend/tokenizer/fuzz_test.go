package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncodeDecode checks, on any input, that encoding never panics, every
// id is in range, byte-level BPE round-trips valid UTF-8 exactly, the
// SentencePiece-style tokenizer round-trips text without added tokens, and
// the stream decoder only ever emits valid UTF-8. Seeds: testdata/corpus.json.
//
//	go test -run '^$' -fuzz FuzzEncodeDecode -fuzztime 30s ./backend/tokenizer/
func FuzzEncodeDecode(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "corpus.json"))
	if err != nil {
		f.Fatal(err)
	}
	var corpus []string
	if err := json.Unmarshal(data, &corpus); err != nil {
		f.Fatal(err)
	}
	for _, s := range corpus {
		f.Add(s)
	}
	f.Add("\xff\xfe invalid \xe2\x82")
	byteLevel := loadFamily(f, "demo")
	sentencePiece := loadFamily(f, "mistral")
	f.Fuzz(func(t *testing.T, text string) {
		for _, tk := range []*Tokenizer{byteLevel, sentencePiece} {
			ids := tk.Encode(text, true)
			sd := tk.NewStreamDecoder()
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("id %d out of range for %q", id, text)
				}
				if out := sd.Next(id); !utf8.ValidString(out) {
					t.Fatalf("stream emitted invalid UTF-8 %q", out)
				}
			}
		}
		if !utf8.ValidString(text) {
			return
		}
		if back := byteLevel.Decode(byteLevel.Encode(text, false)); back != text {
			t.Fatalf("byte-level round trip: %q -> %q", text, back)
		}
		if !strings.ContainsAny(text, "<") { // no added tokens: "<s>", "</s>", "<unk>"
			// A literal "▁" decodes as a space (it is the encoded space).
			if back := sentencePiece.Decode(sentencePiece.Encode(text, false)); back != strings.ReplaceAll(text, "\u2581", " ") {
				t.Fatalf("SentencePiece round trip: %q -> %q", text, back)
			}
		}
	})
}

// FuzzParse feeds arbitrary bytes to Parse: it must return an error or a
// working tokenizer, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"added_tokens":[{"id":3,"content":"<s>","special":true}],
		"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}},{"Sequence":{"id":"A"}}]},
		"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
		"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\s+|a(?=b)"},"behavior":"Isolated"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data)
		if err != nil {
			return
		}
		ids := tk.Encode("ab a b <s> ▁x", true)
		_ = tk.Decode(ids)
		_ = tk.Decode([]int{-1, 0, 1 << 30})
	})
}
