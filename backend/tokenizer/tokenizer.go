// Package tokenizer implements the Hugging Face tokenizer.json format for BPE
// models in pure Go. It owns turning text into token ids and back for every
// model the profiler runs:
//
//   - byte-level BPE (GPT-2, Llama-3, Qwen2 and the built-in demo models):
//     Split/ByteLevel/Digits pre-tokenizers, NFC normalizer, ignore_merges;
//   - SentencePiece-style BPE (Llama-2, Mistral, TinyLlama, Phi-3): the legacy
//     Prepend+Replace normalizer or the Metaspace pre-tokenizer, byte_fallback
//     <0xNN> tokens, fuse_unk.
//
// GGUF files (llama.cpp) carry the same tokenizers as metadata: FromGGUF /
// LoadGGUF read them (model "gpt2" with the pre-tokenizer named by
// tokenizer.ggml.pre, model "llama" with scores), WriteGGUF writes them.
//
// Added and special tokens are split out of the raw text before
// normalization. Decoding is available whole (Decode) or as a stream that
// never emits a broken UTF-8 sequence (NewStreamDecoder). BuildDemoByteLevel
// trains the small tokenizer the demo models ship with.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Tokenizer encodes text to token ids and decodes ids to text, as described by
// one tokenizer.json file.
type Tokenizer struct {
	model      *bpe
	added      *addedVocab
	normalizer normalizer   // nil: text is used as is
	preTok     preTokenizer // nil: each section is one word
	post       postProcessor
	decoder    decoder // nil: pieces are joined with spaces, as Hugging Face does

	pieces    []string       // id -> piece (model vocab and added tokens)
	special   map[int]bool   // ids of added tokens marked special
	addedByID map[int]string // ids of all added tokens -> content
	bos, eos  int            // -1 when unknown
}

// Load reads and parses a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// Encode turns text into token ids. Added and special tokens written in the
// text (for example "<|im_end|>" or "</s>") become their ids. When addSpecial
// is true the post-processor runs too, which for most models prepends the
// beginning-of-sequence token.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	var ids []int
	for _, sec := range t.added.split(text) {
		if sec.id >= 0 {
			ids = append(ids, sec.id)
			continue
		}
		ids = t.encodeSection(sec.text, sec.start == 0, ids)
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// encodeSection encodes text that holds no added token. atStart says whether
// the section begins at offset 0 of the caller's text (Metaspace's "first"
// scheme prepends only there).
func (t *Tokenizer) encodeSection(text string, atStart bool, ids []int) []int {
	if t.normalizer != nil {
		text = t.normalizer.normalize(text)
	}
	if text == "" {
		return ids
	}
	words := []string{text}
	if t.preTok != nil {
		words = t.preTok.preTokenize(words, atStart)
	}
	for _, w := range words {
		if w != "" {
			ids = t.model.tokenize(w, ids)
		}
	}
	return ids
}

// Decode turns ids into text. Special tokens are written out as their text
// (as Hugging Face's decode does by default); drop them first with IsSpecial
// if they should not appear. Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	pieces := make([]string, 0, len(ids))
	for _, id := range ids {
		if p, ok := t.piece(id); ok {
			pieces = append(pieces, p)
		}
	}
	if t.decoder == nil {
		return strings.Join(pieces, " ")
	}
	return t.decodePieces(pieces)
}

func (t *Tokenizer) piece(id int) (string, bool) {
	if id < 0 || id >= len(t.pieces) {
		return "", false
	}
	if p, ok := t.addedByID[id]; ok {
		return p, true
	}
	p := t.pieces[id]
	return p, p != "" // ids missing from a sparse vocab have no piece
}

// Piece returns the vocabulary entry of id as stored in tokenizer.json (for
// byte-level models that is the byte alphabet form, e.g. "Ġworld"), or "" for
// an unknown id.
func (t *Tokenizer) Piece(id int) string {
	p, _ := t.piece(id)
	return p
}

// ID returns the id of a vocabulary entry or added token.
func (t *Tokenizer) ID(piece string) (int, bool) {
	if id, ok := t.added.byContent[piece]; ok {
		return id, true
	}
	id, ok := t.model.vocab[piece]
	return id, ok
}

// VocabSize is one more than the largest id the tokenizer can produce. The
// model's embedding table (config.json vocab_size) may be larger because of
// padding; never size the tokenizer from it.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// IsSpecial reports whether id is an added token marked special (such as
// "<s>" or "<|im_end|>").
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// SpecialIDs returns the ids of all special tokens in ascending order.
func (t *Tokenizer) SpecialIDs() []int {
	ids := make([]int, 0, len(t.special))
	for id := range t.special {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// BOS returns the beginning-of-sequence id: the first special token the
// post-processor prepends, or else a conventionally named token ("<s>",
// "<|begin_of_text|>", …). ok is false when none is identifiable.
func (t *Tokenizer) BOS() (id int, ok bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence id guessed from conventional names ("</s>",
// "<|end_of_text|>", "<|endoftext|>"). tokenizer.json does not record the EOS
// token, so prefer the ids in config.json / generation_config.json.
func (t *Tokenizer) EOS() (id int, ok bool) { return t.eos, t.eos >= 0 }
