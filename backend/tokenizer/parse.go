package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// fileJSON is the part of tokenizer.json this package reads.
type fileJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         json.RawMessage  `json:"model"`
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

// typed is the common head of every component object: {"type": "..."}.
type typed struct {
	Type string `json:"type"`
}

// pattern is a Split/Replace pattern: {"String": "..."} or {"Regex": "..."}.
type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// isNull reports whether a component field is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// maxTokenID bounds ids read from a file, so a corrupt file cannot make
// Parse allocate gigabytes; real vocabularies stay far below it.
const maxTokenID = 1 << 24

// Parse builds a Tokenizer from the contents of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w (is this a Hugging Face tokenizer.json file?)", err)
	}
	// Check the model type before decoding the rest: other models lay out
	// their vocab differently (Unigram uses a list).
	var head typed
	if err := json.Unmarshal(f.Model, &head); err != nil || isNull(f.Model) {
		return nil, fmt.Errorf("parse tokenizer.json: missing or malformed \"model\" (is this a Hugging Face tokenizer.json file?)")
	}
	if head.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer model type %q is not supported: only BPE tokenizers (byte-level like Llama-3/Qwen2, or SentencePiece-style like Llama-2/Mistral) are", head.Type)
	}
	var mj modelJSON
	if err := json.Unmarshal(f.Model, &mj); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json model: %w", err)
	}
	model, err := newBPE(&mj)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: model, special: map[int]bool{}, addedByID: map[int]string{}, bos: -1, eos: -1}

	added := make([]addedToken, 0, len(f.AddedTokens))
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("added token %d has empty content", a.ID)
		}
		if a.ID < 0 || a.ID > maxTokenID {
			return nil, fmt.Errorf("added token %q has id %d, outside 0..%d", a.Content, a.ID, maxTokenID)
		}
		added = append(added, addedToken{id: a.ID, content: a.Content, special: a.Special,
			lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord})
		t.addedByID[a.ID] = a.Content
		if a.Special {
			t.special[a.ID] = true
		}
	}
	t.added = newAddedVocab(added)

	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.preTok, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if err := checkByteCoverage(model, t.preTok); err != nil {
		return nil, err
	}
	idOf := func(s string) (int, bool) {
		if id, ok := t.added.byContent[s]; ok {
			return id, true
		}
		id, ok := model.vocab[s]
		return id, ok
	}
	if t.post, err = parsePostProcessor(f.PostProcessor, idOf); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}

	size := model.size()
	for id := range t.addedByID {
		size = max(size, id+1)
	}
	t.pieces = make([]string, size)
	for p, id := range model.vocab {
		t.pieces[id] = p
	}

	t.bos = firstFound(idOf, "<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>")
	if lead, ok := t.post.(leadingSpecial); ok {
		if id, ok := lead.leadingSpecial(); ok {
			t.bos = id
		}
	}
	t.eos = firstFound(idOf, "</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>")
	return t, nil
}

func firstFound(idOf func(string) (int, bool), names ...string) int {
	for _, n := range names {
		if id, ok := idOf(n); ok {
			return id
		}
	}
	return -1
}

// parseMerges accepts both JSON forms: ["a b", ...] (tokenizers < 0.20) and
// [["a", "b"], ...] (tokenizers >= 0.20, which also allows spaces in tokens).
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	// Decode the whole list in one go; which form it is shows in the first
	// element (decoding element by element is several times slower on the
	// 150k-280k merges of real tokenizers).
	inner := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("[")))
	if len(inner) > 0 && inner[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("merges: want a list of [\"a\", \"b\"] pairs: %w", err)
		}
		out := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("merge %d: want a pair of strings, got %d", i, len(p))
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("merges: want a list of \"a b\" strings or [\"a\", \"b\"] pairs: %w", err)
	}
	out := make([][2]string, len(lines))
	for i, s := range lines {
		a, b, ok := strings.Cut(s, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merge %d %q: want exactly two tokens separated by one space", i, s)
		}
		out[i] = [2]string{a, b}
	}
	return out, nil
}

// errUnsupported builds the error for a component type this package lacks.
func errUnsupported(kind, typ string, supported ...string) error {
	return fmt.Errorf("%s type %q is not supported (supported: %s)", kind, typ, strings.Join(supported, ", "))
}

var errNoType = errors.New(`component has no "type" field`)

// parseSequence parses the items of a {"type": "Sequence", key: [...]} block
// with parse, dropping items that parse to nothing (null).
func parseSequence[T any](raw json.RawMessage, key string, parse func(json.RawMessage) (T, error)) ([]T, error) {
	var seq map[string]json.RawMessage
	if err := json.Unmarshal(raw, &seq); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if r, ok := seq[key]; ok && !isNull(r) {
		if err := json.Unmarshal(r, &items); err != nil {
			return nil, fmt.Errorf("sequence %s: %w", key, err)
		}
	}
	var out []T
	for i, r := range items {
		v, err := parse(r)
		if err != nil {
			return nil, fmt.Errorf("sequence item %d: %w", i, err)
		}
		if any(v) != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// checkByteCoverage refuses a tokenizer that would silently drop text: a
// byte-level one (or one with byte fallback) whose vocab lacks some of the
// 256 byte tokens, with no unk token to stand in for what they would spell.
func checkByteCoverage(m *bpe, pre preTokenizer) error {
	if m.unkID >= 0 {
		return nil
	}
	var missing []string
	switch {
	case usesByteLevel(pre):
		for b := 0; b < 256; b++ {
			if _, ok := m.vocab[string(byteToRune(byte(b)))]; !ok {
				missing = append(missing, fmt.Sprintf("%q (byte 0x%02X)", string(byteToRune(byte(b))), b))
			}
		}
	case m.byteFallback:
		for b, id := range m.byteIDs {
			if id < 0 {
				missing = append(missing, fmt.Sprintf("<0x%02X>", b))
			}
		}
	default:
		return nil
	}
	if len(missing) == 0 {
		return nil
	}
	shown := missing[:min(len(missing), 8)]
	more := ""
	if len(missing) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
	}
	return fmt.Errorf("tokenizer.json's vocab lacks %d of the 256 byte tokens (%s%s) and has no unk_token: text needing them would be silently dropped; use the model's original tokenizer.json",
		len(missing), strings.Join(shown, ", "), more)
}

// usesByteLevel reports whether a ByteLevel pre-tokenizer maps the text to
// the 256-character byte alphabet.
func usesByteLevel(p preTokenizer) bool {
	switch p := p.(type) {
	case *byteLevelPreTok:
		return true
	case preTokSeq:
		for _, q := range p {
			if usesByteLevel(q) {
				return true
			}
		}
	}
	return false
}
