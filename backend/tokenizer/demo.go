package tokenizer

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

// The built-in demo models ship a small byte-level BPE tokenizer trained by
// BuildDemoByteLevel. Its ids are laid out so the engine can size the
// embedding table without loading it:
//
//	0..255                 the 256 single bytes (id == byte value)
//	256..256+numMerges-1   one token per learned merge, in merge order
//	256+numMerges          DemoBOS "<|begin_of_text|>" (prepended by Encode(text, true))
//	257+numMerges          DemoEOS "<|end_of_text|>"
//
// so the vocabulary size is DemoVocabSize(numMerges) = 258 + numMerges.
// Byte-level BPE covers every byte, so any text (emoji, CJK, …) encodes and
// decodes losslessly whatever numMerges is.
const (
	DemoBOS = "<|begin_of_text|>"
	DemoEOS = "<|end_of_text|>"
)

// DemoMaxMerges is the most merges BuildDemoByteLevel accepts (the embedded
// corpus supports a few more; keeping a margin lets the corpus be edited).
// Asking BuildDemoByteLevel for more is an error.
const DemoMaxMerges = 900

// demoCorpus is English prose, code and a little multilingual text: the
// training data of the demo tokenizer. It is part of the tokenizer's
// definition: editing it changes every demo model's tokenizer.
//
//go:embed demo_corpus.txt
var demoCorpus string

// DemoVocabSize returns the vocabulary size of BuildDemoByteLevel(numMerges).
func DemoVocabSize(numMerges int) int { return 256 + numMerges + 2 }

// DemoSpecialIDs returns the ids of DemoBOS and DemoEOS in
// BuildDemoByteLevel(numMerges).
func DemoSpecialIDs(numMerges int) (bos, eos int) { return 256 + numMerges, 257 + numMerges }

// BuildDemoByteLevel trains a byte-level BPE tokenizer with numMerges merges
// on the embedded corpus and returns it as tokenizer.json bytes (GPT-2 style
// ByteLevel pre-tokenizer and decoder, merges in the [a, b] array form). The
// result is deterministic: the same numMerges always gives the same bytes.
//
// Training is the classic greedy BPE: split the corpus into words with the
// GPT-2 pattern, then repeatedly merge the most frequent adjacent pair (ties
// broken by the lower left id, then the lower right id).
func BuildDemoByteLevel(numMerges int) ([]byte, error) {
	if numMerges < 0 || numMerges > DemoMaxMerges {
		return nil, fmt.Errorf("demo tokenizer: numMerges %d out of range 0..%d", numMerges, DemoMaxMerges)
	}
	table := newByteLevelTable()
	pieces := make([]string, 256, 256+numMerges)
	vocab := make(map[string]int, 256+numMerges+2)
	for b := 0; b < 256; b++ {
		pieces[b] = string(table.enc[b])
		vocab[pieces[b]] = b
	}

	words := demoWords()
	merges := make([][2]string, 0, numMerges)
	banned := map[uint64]bool{} // pairs whose merged text already exists
	for len(merges) < numMerges {
		counts := map[uint64]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.ids); i++ {
				counts[pairKey(w.ids[i], w.ids[i+1])] += w.count
			}
		}
		best, bestCount := uint64(0), 0
		for k, c := range counts {
			if banned[k] {
				continue
			}
			if c > bestCount || c == bestCount && k < best {
				best, bestCount = k, c
			}
		}
		if bestCount == 0 {
			return nil, fmt.Errorf("demo tokenizer: the corpus only supports %d merges, %d requested", len(merges), numMerges)
		}
		left, right := int(best>>32), int(uint32(best))
		text := pieces[left] + pieces[right]
		if _, exists := vocab[text]; exists {
			banned[best] = true
			continue
		}
		id := len(pieces)
		pieces = append(pieces, text)
		vocab[text] = id
		merges = append(merges, [2]string{pieces[left], pieces[right]})
		for i := range words {
			words[i].ids = applyMerge(words[i].ids, left, right, id)
		}
	}

	bos, eos := DemoSpecialIDs(numMerges)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(demoJSON(pieces, merges, bos, eos)); err != nil {
		return nil, fmt.Errorf("demo tokenizer: %w", err)
	}
	return buf.Bytes(), nil
}

// orderedVocab marshals as a JSON object ordered by id, as Hugging Face
// writes vocabularies (encoding/json would sort a map by key).
type orderedVocab []string

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, p := range v {
		if id > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		b.Write(key)
		fmt.Fprintf(&b, ":%d", id)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type demoWord struct {
	ids   []int
	count int
}

// demoWords splits the corpus into GPT-2 words and counts them, in a
// deterministic order.
func demoWords() []demoWord {
	splitter := &wordSplitter{}
	counts := map[string]int{}
	for _, m := range splitter.split(demoCorpus) {
		counts[demoCorpus[m[0]:m[1]]]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	words := make([]demoWord, len(keys))
	for i, k := range keys {
		ids := make([]int, len(k))
		for j := 0; j < len(k); j++ {
			ids[j] = int(k[j])
		}
		words[i] = demoWord{ids: ids, count: counts[k]}
	}
	return words
}

// applyMerge replaces each non-overlapping (left, right) pair, left to right.
func applyMerge(ids []int, left, right, merged int) []int {
	out := ids[:0]
	for i := 0; i < len(ids); i++ {
		if i+1 < len(ids) && ids[i] == left && ids[i+1] == right {
			out = append(out, merged)
			i++
			continue
		}
		out = append(out, ids[i])
	}
	return out
}

// demoJSON lays the tokenizer out like a file saved by Hugging Face
// tokenizers (field order matters only for readability).
func demoJSON(pieces []string, merges [][2]string, bos, eos int) any {
	type obj = map[string]any
	special := func(id int, content string) obj {
		return obj{"id": id, "content": content, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}
	}
	byteLevel := obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	bosItem := obj{"SpecialToken": obj{"id": DemoBOS, "type_id": 0}}
	return struct {
		Version       string `json:"version"`
		Truncation    any    `json:"truncation"`
		Padding       any    `json:"padding"`
		AddedTokens   []obj  `json:"added_tokens"`
		Normalizer    any    `json:"normalizer"`
		PreTokenizer  obj    `json:"pre_tokenizer"`
		PostProcessor obj    `json:"post_processor"`
		Decoder       obj    `json:"decoder"`
		Model         any    `json:"model"`
	}{
		Version:      "1.0",
		AddedTokens:  []obj{special(bos, DemoBOS), special(eos, DemoEOS)},
		PreTokenizer: byteLevel,
		PostProcessor: obj{
			"type":   "TemplateProcessing",
			"single": []obj{bosItem, {"Sequence": obj{"id": "A", "type_id": 0}}},
			"pair": []obj{bosItem, {"Sequence": obj{"id": "A", "type_id": 0}},
				{"SpecialToken": obj{"id": DemoBOS, "type_id": 1}}, {"Sequence": obj{"id": "B", "type_id": 1}}},
			"special_tokens": obj{DemoBOS: obj{"id": DemoBOS, "ids": []int{bos}, "tokens": []string{DemoBOS}}},
		},
		Decoder: byteLevel,
		Model: struct {
			Type                    string       `json:"type"`
			Dropout                 any          `json:"dropout"`
			UnkToken                any          `json:"unk_token"`
			ContinuingSubwordPrefix any          `json:"continuing_subword_prefix"`
			EndOfWordSuffix         any          `json:"end_of_word_suffix"`
			FuseUnk                 bool         `json:"fuse_unk"`
			ByteFallback            bool         `json:"byte_fallback"`
			IgnoreMerges            bool         `json:"ignore_merges"`
			Vocab                   orderedVocab `json:"vocab"`
			Merges                  [][2]string  `json:"merges"`
		}{Type: "BPE", Vocab: orderedVocab(pieces), Merges: merges},
	}
}
