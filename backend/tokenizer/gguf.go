package tokenizer

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"energyprofiler/backend/model"
)

// GGUF files carry their tokenizer as tokenizer.ggml.* metadata: the token
// list, token types, merges (byte-level BPE, model "gpt2") or scores
// (SentencePiece, model "llama"), the special ids and the pre-tokenizer name
// (tokenizer.ggml.pre). FromGGUF turns that into the equivalent Hugging Face
// tokenizer.json and parses it, so a GGUF model tokenizes exactly like the
// Hugging Face tokenizer it was converted from, through the same code.

// GGUF token types (llama.cpp's llama_token_type).
const (
	ggufTokenNormal      = 1
	ggufTokenUnknown     = 2
	ggufTokenControl     = 3
	ggufTokenUserDefined = 4
	ggufTokenUnused      = 5
	ggufTokenByte        = 6
)

// bpePre describes a tokenizer.ggml.pre value of byte-level BPE models: the
// Hugging Face pre-tokenizer it stands for (llama.cpp's llama-vocab.cpp
// lists the same regexes per name), and llama.cpp's defaults for it.
type bpePre struct {
	preTokenizer any // the tokenizer.json pre_tokenizer
	nfc          bool
	ignoreMerges bool
	addBOS       bool
}

func splitRegex(p string) map[string]any {
	return map[string]any{"type": "Split", "pattern": map[string]any{"Regex": p}, "behavior": "Isolated", "invert": false}
}

func byteLevel(useRegex bool) map[string]any {
	return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": useRegex}
}

func seq(items ...any) map[string]any {
	return map[string]any{"type": "Sequence", "pretokenizers": items}
}

// ggufPreTokenizers maps tokenizer.ggml.pre to its pre-tokenizer. Groups
// follow llama-vocab.cpp; the regexes are the Hugging Face originals.
func ggufPreTokenizer(pre string) (bpePre, bool) {
	const gpt2NoTail = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	switch pre {
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx", "smaug-bpe":
		p := bpePre{preTokenizer: seq(splitRegex(llama3Pattern), byteLevel(false)), ignoreMerges: true, addBOS: true}
		if pre == "dbrx" || pre == "smaug-bpe" {
			p.ignoreMerges, p.addBOS = false, false
		}
		return p, true
	case "gpt-4o", "llama4", "chatglm-bpe", "glm4":
		// Same as llama3 for the ids these families' regexes produce on
		// plain text except case-run splits, which gpt-4o adds.
		if pre == "chatglm-bpe" || pre == "glm4" {
			return bpePre{preTokenizer: seq(splitRegex(llama3Pattern), byteLevel(false))}, true
		}
		return bpePre{preTokenizer: seq(splitRegex(`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`), byteLevel(false))}, true
	case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "kormo":
		return bpePre{preTokenizer: seq(splitRegex(qwen2Pattern), byteLevel(false)), nfc: pre != "stablelm2"}, true
	case "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "gigachat", "mellum", "a.x-4.0", "granite-docling":
		return bpePre{preTokenizer: byteLevel(true)}, true
	case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
		return bpePre{preTokenizer: seq(map[string]any{"type": "Digits", "individual_digits": true}, byteLevel(true))}, true
	case "tekken":
		return bpePre{preTokenizer: seq(splitRegex(`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`), byteLevel(false)),
			ignoreMerges: true, addBOS: true}, true
	case "falcon":
		return bpePre{preTokenizer: seq(splitRegex(`[\p{P}\$\+<=>\^~\|`+"`"+`]+`), splitRegex(gpt2NoTail), splitRegex(`[0-9][0-9][0-9]`), byteLevel(false))}, true
	case "deepseek-coder":
		return bpePre{preTokenizer: seq(splitRegex(`[\r\n]`), splitRegex(`\s?\p{L}+`), splitRegex(`\s?\p{P}+`), splitRegex(`[一-龥ࠀ-一가-퟿]+`), splitRegex(`\p{N}`), byteLevel(false))}, true
	case "default", "":
		return bpePre{preTokenizer: seq(splitRegex(`[\p{P}\$\+<=>\^~\|]+`), splitRegex(gpt2NoTail), splitRegex(`\p{N}+`), splitRegex(`[0-9][0-9][0-9]`), byteLevel(false))}, true
	}
	return bpePre{}, false
}

// ggufPreNames lists the tokenizer.ggml.pre values FromGGUF understands.
var ggufPreNames = []string{"default", "llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx", "smaug-bpe",
	"gpt-4o", "llama4", "chatglm-bpe", "glm4", "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "kormo",
	"gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "gigachat", "mellum", "a.x-4.0", "granite-docling",
	"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "tekken", "falcon", "deepseek-coder"}

// FromGGUF builds the tokenizer described by a GGUF file's metadata.
func FromGGUF(g *model.GGUF) (*Tokenizer, error) {
	data, err := ggufTokenizerJSON(g)
	if err != nil {
		return nil, fmt.Errorf("GGUF tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("GGUF tokenizer: %w", err)
	}
	// The ids GGUF names outrank the guesses from conventional names.
	if id, ok, err := g.Int("tokenizer.ggml.bos_token_id"); err == nil && ok && id >= 0 && int(id) < len(t.pieces) {
		t.bos = int(id)
	}
	if id, ok, err := g.Int("tokenizer.ggml.eos_token_id"); err == nil && ok && id >= 0 && int(id) < len(t.pieces) {
		t.eos = int(id)
	}
	return t, nil
}

// LoadGGUF reads the tokenizer of the GGUF file at path.
func LoadGGUF(path string) (*Tokenizer, error) {
	g, _, release, err := model.ReadGGUF(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	defer release()
	t, err := FromGGUF(g)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer from %s: %w", path, err)
	}
	return t, nil
}

// ggufTokenizerJSON writes the tokenizer.json equivalent of the metadata.
func ggufTokenizerJSON(g *model.GGUF) ([]byte, error) {
	kind, _ := g.String("tokenizer.ggml.model")
	tokens, ok := g.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("no tokenizer.ggml.tokens string array")
	}
	if len(tokens) > maxTokenID {
		return nil, fmt.Errorf("%d tokens, more than the %d this package accepts", len(tokens), maxTokenID)
	}
	types, hasTypes := g.Ints("tokenizer.ggml.token_type")
	if hasTypes && len(types) != len(tokens) {
		return nil, fmt.Errorf("tokenizer.ggml.token_type has %d entries for %d tokens", len(types), len(tokens))
	}
	typeOf := func(id int) int {
		if !hasTypes {
			return ggufTokenNormal
		}
		return types[id]
	}
	addBOS, hasAddBOS := g.Bool("tokenizer.ggml.add_bos_token")
	addEOS, _ := g.Bool("tokenizer.ggml.add_eos_token")
	special := func(key string) (int, bool) {
		id, ok, err := g.Int(key)
		if err != nil || !ok || id < 0 || int(id) >= len(tokens) {
			return 0, false
		}
		return int(id), true
	}

	vocab := make(map[string]int, len(tokens))
	var added []map[string]any
	for id, tok := range tokens {
		if tok == "" {
			tok = fmt.Sprintf("[EMPTY_%d]", id) // as llama.cpp names them
		}
		if _, dup := vocab[tok]; !dup {
			vocab[tok] = id
		}
		switch typeOf(id) {
		case ggufTokenControl, ggufTokenUserDefined, ggufTokenUnknown:
			added = append(added, map[string]any{"id": id, "content": tok, "special": typeOf(id) != ggufTokenUserDefined,
				"single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
		}
	}
	tj := map[string]any{"version": "1.0", "added_tokens": added}
	bpeModel := map[string]any{"type": "BPE", "vocab": vocab}

	switch kind {
	case "gpt2":
		pre, _ := g.String("tokenizer.ggml.pre")
		p, ok := ggufPreTokenizer(pre)
		if !ok {
			return nil, fmt.Errorf("tokenizer.ggml.pre %q is not supported (supported: %s)", pre, strings.Join(ggufPreNames, ", "))
		}
		merges, ok := g.Strings("tokenizer.ggml.merges")
		if !ok {
			return nil, fmt.Errorf("byte-level BPE tokenizer without tokenizer.ggml.merges")
		}
		bpeModel["merges"] = merges
		bpeModel["ignore_merges"] = p.ignoreMerges
		tj["pre_tokenizer"] = p.preTokenizer
		tj["decoder"] = byteLevel(false)
		if p.nfc {
			tj["normalizer"] = map[string]any{"type": "NFC"}
		}
		if !hasAddBOS {
			addBOS = p.addBOS
		}
	case "llama":
		scores, ok := g.Float32s("tokenizer.ggml.scores")
		if !ok || len(scores) != len(tokens) {
			return nil, fmt.Errorf("SentencePiece tokenizer needs tokenizer.ggml.scores with one score per token")
		}
		bpeModel["merges"] = mergesFromScores(tokens, scores, typeOf)
		bpeModel["byte_fallback"] = true
		bpeModel["fuse_unk"] = true
		if unk, ok := special("tokenizer.ggml.unknown_token_id"); ok {
			bpeModel["unk_token"] = tokens[unk]
		}
		prefix, hasPrefix := g.Bool("tokenizer.ggml.add_space_prefix")
		norm := []any{map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "\u2581"}}
		if prefix || !hasPrefix {
			norm = append([]any{map[string]any{"type": "Prepend", "prepend": "\u2581"}}, norm...)
		}
		tj["normalizer"] = map[string]any{"type": "Sequence", "normalizers": norm}
		tj["decoder"] = map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "\u2581"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}}
		if !hasAddBOS {
			addBOS = true // llama.cpp's default for SentencePiece vocabularies
		}
	case "":
		return nil, fmt.Errorf("no tokenizer.ggml.model key")
	default:
		return nil, fmt.Errorf("tokenizer.ggml.model %q is not supported (supported: gpt2 = byte-level BPE, llama = SentencePiece)", kind)
	}
	tj["model"] = bpeModel

	var single []any
	specials := map[string]any{}
	addSpecial := func(key string) error {
		id, ok := special(key)
		if !ok {
			return fmt.Errorf("%s is missing or out of range but the tokenizer is told to add it", key)
		}
		single = append(single, map[string]any{"SpecialToken": map[string]any{"id": tokens[id], "type_id": 0}})
		specials[tokens[id]] = map[string]any{"id": tokens[id], "ids": []int{id}, "tokens": []string{tokens[id]}}
		return nil
	}
	if addBOS {
		if err := addSpecial("tokenizer.ggml.bos_token_id"); err != nil {
			return nil, err
		}
	}
	single = append(single, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}})
	if addEOS {
		if err := addSpecial("tokenizer.ggml.eos_token_id"); err != nil {
			return nil, err
		}
	}
	tj["post_processor"] = map[string]any{"type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials}
	return json.Marshal(tj)
}

// mergesFromScores derives BPE merges from SentencePiece scores the way
// Hugging Face converts a SentencePiece model (SentencePieceExtractor):
// every split of a piece into two pieces of the vocabulary is a merge,
// ranked by the piece's score (highest first), splits of one piece ordered
// by the ids of their parts. Applying merges lowest rank first then equals
// SentencePiece's (and llama.cpp's) merging of the highest-scoring pair.
func mergesFromScores(tokens []string, scores []float32, typeOf func(int) int) []string {
	ids := make(map[string]int, len(tokens))
	for id, t := range tokens {
		if _, dup := ids[t]; !dup {
			ids[t] = id
		}
	}
	type merge struct {
		l, r  string
		score float32
		order int
	}
	var merges []merge
	for id, piece := range tokens {
		if typeOf(id) != ggufTokenNormal && typeOf(id) != ggufTokenUserDefined {
			continue
		}
		var local []merge
		for i := 1; i < len(piece); i++ {
			l, r := piece[:i], piece[i:]
			_, okL := ids[l]
			_, okR := ids[r]
			if okL && okR {
				local = append(local, merge{l: l, r: r, score: scores[id]})
			}
		}
		sort.SliceStable(local, func(a, b int) bool {
			if ids[local[a].l] != ids[local[b].l] {
				return ids[local[a].l] < ids[local[b].l]
			}
			return ids[local[a].r] < ids[local[b].r]
		})
		merges = append(merges, local...)
	}
	sort.SliceStable(merges, func(a, b int) bool { return merges[a].score > merges[b].score })
	out := make([]string, 0, len(merges))
	for _, m := range merges {
		if strings.Contains(m.l, " ") || strings.Contains(m.r, " ") {
			continue // cannot be written as "a b"; SentencePiece pieces use ▁, never spaces
		}
		out = append(out, m.l+" "+m.r)
	}
	return out
}

// WriteGGUF records t as tokenizer.ggml.* metadata in w, the way llama.cpp's
// converter does: byte-level BPE vocabularies as model "gpt2" with merges
// and the pre-tokenizer name pre (see FromGGUF for the names), byte-fallback
// (SentencePiece-style) vocabularies as model "llama" with scores derived
// from the merge ranks. bos and eos may be -1 (unknown).
func (t *Tokenizer) WriteGGUF(w *model.GGUFWriter, pre string, bos, eos int, addBOS bool) error {
	return t.WriteGGUFVocab(w, pre, bos, eos, addBOS, 0)
}

// WriteGGUFVocab is WriteGGUF with the token list padded to vocab entries
// (unused tokens "[PADid]") when the tokenizer has fewer: llama.cpp
// requires as many tokens as the embedding has rows.
func (t *Tokenizer) WriteGGUFVocab(w *model.GGUFWriter, pre string, bos, eos int, addBOS bool, vocab int) error {
	n := max(len(t.pieces), vocab)
	tokens := make([]string, n)
	types := make([]int32, n)
	for id := range n {
		p, ok := t.piece(id)
		if !ok {
			p = fmt.Sprintf("[PAD%d]", id)
			types[id] = ggufTokenUnused
		}
		tokens[id] = p
		if types[id] == 0 {
			types[id] = ggufTokenNormal
		}
		if _, ok := t.addedByID[id]; ok {
			types[id] = ggufTokenUserDefined
			if t.special[id] {
				types[id] = ggufTokenControl
			}
		}
	}
	merges := make([]string, 0, len(t.model.merges))
	type ranked struct {
		rank int32
		s    string
	}
	var rs []ranked
	// Merge scores: a merged piece scores minus the rank of its first merge.
	scores := make([]float32, n)
	for id := range scores {
		scores[id] = float32(-1e9) // pieces no merge creates
	}
	for k, m := range t.model.merges {
		l, r := int(k>>32), int(uint32(k))
		rs = append(rs, ranked{m.rank, tokens[l] + " " + tokens[r]})
		if s := float32(-m.rank); s > scores[m.id] || scores[m.id] == -1e9 {
			scores[m.id] = s
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int { return int(a.rank - b.rank) })
	for _, r := range rs {
		merges = append(merges, r.s)
	}

	if t.model.byteFallback {
		for _, id := range t.model.byteIDs {
			if id >= 0 {
				types[id] = ggufTokenByte
			}
		}
		if t.model.unkID >= 0 {
			types[t.model.unkID] = ggufTokenUnknown
			w.SetUint32("tokenizer.ggml.unknown_token_id", uint32(t.model.unkID))
		}
		w.SetString("tokenizer.ggml.model", "llama")
		w.SetStrings("tokenizer.ggml.tokens", tokens)
		w.SetFloat32s("tokenizer.ggml.scores", scores)
		w.SetInt32s("tokenizer.ggml.token_type", types)
		w.SetBool("tokenizer.ggml.add_space_prefix", true)
	} else {
		if _, ok := ggufPreTokenizer(pre); !ok {
			return fmt.Errorf("write GGUF tokenizer: pre-tokenizer name %q is unknown (supported: %s)", pre, strings.Join(ggufPreNames, ", "))
		}
		w.SetString("tokenizer.ggml.model", "gpt2")
		w.SetString("tokenizer.ggml.pre", pre)
		w.SetStrings("tokenizer.ggml.tokens", tokens)
		w.SetInt32s("tokenizer.ggml.token_type", types)
		w.SetStrings("tokenizer.ggml.merges", merges)
	}
	if bos >= 0 {
		w.SetUint32("tokenizer.ggml.bos_token_id", uint32(bos))
	}
	if eos >= 0 {
		w.SetUint32("tokenizer.ggml.eos_token_id", uint32(eos))
	}
	w.SetBool("tokenizer.ggml.add_bos_token", addBOS)
	return nil
}

// LoadForModel reads the tokenizer of a model: the tokenizer.json of a
// model folder, or the metadata of a .gguf file.
func LoadForModel(path string) (*Tokenizer, error) {
	if model.IsGGUF(path) {
		return LoadGGUF(path)
	}
	return Load(filepath.Join(path, "tokenizer.json"))
}
