package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

type addedToken struct {
	id             int
	content        string
	special        bool
	lstrip, rstrip bool
	singleWord     bool
}

// addedVocab finds added tokens in raw text: at each position the longest
// token that starts there wins, and the leftmost match comes first (Hugging
// Face uses a leftmost-longest Aho-Corasick automaton to the same effect).
//
// Tokens marked normalized:true are matched against the raw text as well;
// for the normalizers supported here (NFC, Prepend, Replace of spaces) that
// only differs for tokens containing spaces or decomposable characters,
// which real added tokens do not.
type addedVocab struct {
	byFirstByte [256][]addedToken // sorted longest first
	byContent   map[string]int
}

func newAddedVocab(tokens []addedToken) *addedVocab {
	v := &addedVocab{byContent: make(map[string]int, len(tokens))}
	for _, t := range tokens {
		v.byContent[t.content] = t.id
		b := t.content[0]
		v.byFirstByte[b] = append(v.byFirstByte[b], t)
	}
	for i := range v.byFirstByte {
		l := v.byFirstByte[i]
		sort.SliceStable(l, func(a, b int) bool { return len(l[a].content) > len(l[b].content) })
	}
	return v
}

// section is a piece of the input: either plain text (id < 0) or one added
// token. start is its byte offset in the input.
type section struct {
	text  string
	id    int
	start int
}

func (v *addedVocab) split(text string) []section {
	if len(v.byContent) == 0 {
		return []section{{text: text, id: -1}}
	}
	var out []section
	plainStart := 0
	for i := 0; i < len(text); {
		tok, ok := v.matchAt(text, i)
		if !ok {
			i++
			continue
		}
		start, end := i, i+len(tok.content)
		if tok.lstrip {
			for start > plainStart {
				r, size := utf8.DecodeLastRuneInString(text[plainStart:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= size
			}
		}
		if tok.rstrip {
			for end < len(text) {
				r, size := utf8.DecodeRuneInString(text[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += size
			}
		}
		if start > plainStart {
			out = append(out, section{text: text[plainStart:start], id: -1, start: plainStart})
		}
		out = append(out, section{text: text[start:end], id: tok.id, start: start})
		plainStart, i = end, end
	}
	if plainStart < len(text) {
		out = append(out, section{text: text[plainStart:], id: -1, start: plainStart})
	}
	return out
}

// matchAt returns the longest added token that starts at byte i of text.
func (v *addedVocab) matchAt(text string, i int) (addedToken, bool) {
	for _, t := range v.byFirstByte[text[i]] {
		if len(text)-i < len(t.content) || text[i:i+len(t.content)] != t.content {
			continue
		}
		if t.singleWord && !isWordBoundary(text, i, i+len(t.content)) {
			continue
		}
		return t, true
	}
	return addedToken{}, false
}

// isWordBoundary reports whether text[start:end] is not glued to word
// characters on either side (single_word tokens only match whole words).
func isWordBoundary(text string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:start])
		if isWordChar(r) {
			return false
		}
	}
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		if isWordChar(r) {
			return false
		}
	}
	return true
}

func isWordChar(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }
