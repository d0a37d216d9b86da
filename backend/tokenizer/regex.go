package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The pre-tokenizer regexes of the common byte-level families. Their
// `\s+(?!\S)` lookahead is beyond Go's regexp, so they get a hand-written
// splitter (wordSplitter), which is also much faster than a backtracking
// engine. Any other pattern runs on github.com/dlclark/regexp2.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// regex finds non-overlapping leftmost-first matches, as Oniguruma (used by
// Hugging Face tokenizers) does.
type regex struct {
	words *wordSplitter
	re    *regexp2.Regexp
}

func compileRegex(p string) (*regex, error) {
	switch p {
	case gpt2Pattern:
		return &regex{words: &wordSplitter{}}, nil
	case llama3Pattern:
		return &regex{words: &wordSplitter{llama3: true, maxDigits: 3}}, nil
	case qwen2Pattern:
		return &regex{words: &wordSplitter{llama3: true, maxDigits: 1}}, nil
	}
	re, err := regexp2.Compile(p, regexp2.Unicode)
	if err != nil {
		return nil, fmt.Errorf("compile regex %q: %w", p, err)
	}
	return &regex{re: re}, nil
}

// findAll returns the byte ranges of all matches.
func (r *regex) findAll(s string) [][2]int {
	if r.words != nil {
		return r.words.split(s)
	}
	// regexp2 reports rune offsets; map them back to bytes.
	runeToByte := make([]int, 0, len(s)+1)
	for i := range s {
		runeToByte = append(runeToByte, i)
	}
	runeToByte = append(runeToByte, len(s))
	var out [][2]int
	m, err := r.re.FindStringMatch(s)
	for err == nil && m != nil {
		if m.Length > 0 {
			out = append(out, [2]int{runeToByte[m.Index], runeToByte[m.Index+m.Length]})
		}
		m, err = r.re.FindNextMatch(m)
	}
	return out
}

// replaceAll replaces every match with repl taken literally.
func (r *regex) replaceAll(s, repl string) string {
	var b strings.Builder
	last := 0
	for _, m := range r.findAll(s) {
		b.WriteString(s[last:m[0]])
		b.WriteString(repl)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// wordSplitter is a hand-written matcher for the GPT-2 pattern (llama3 false)
// and the Llama-3 / Qwen2 pattern (llama3 true; maxDigits 3 or 1). It tries
// the alternatives in the regex's order at each position, so it reproduces
// the regex's leftmost-first semantics, including `\s+(?!\S)`, which leaves
// the last whitespace character of a run to the following word.
type wordSplitter struct {
	llama3    bool
	maxDigits int // 0: unlimited
}

func isSpace(r rune) bool  { return unicode.IsSpace(r) }
func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) }

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }

func (w *wordSplitter) split(s string) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		n := w.matchAt(s, i)
		out = append(out, [2]int{i, i + n})
		i += n
	}
	return out
}

// runeAt decodes the rune at byte i; at the end of s it returns -1, 0.
func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(s[i:])
}

// spanWhile returns the byte length of the run of runes at i satisfying f.
func spanWhile(s string, i int, f func(rune) bool) int {
	j := i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !f(r) {
			break
		}
		j += n
	}
	return j - i
}

// matchAt returns the byte length of the match at i (always > 0: every
// character belongs to one of the alternatives).
func (w *wordSplitter) matchAt(s string, i int) int {
	c, cn := runeAt(s, i)
	if n := w.contraction(s, i); n > 0 {
		return n
	}
	next, _ := runeAt(s, i+cn)
	if w.llama3 {
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if isLetter(c) {
			return spanWhile(s, i, isLetter)
		}
		if c != '\r' && c != '\n' && !isNumber(c) && isLetter(next) {
			return cn + spanWhile(s, i+cn, isLetter)
		}
		// \p{N}{1,maxDigits}
		if isNumber(c) {
			return w.digits(s, i)
		}
		// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		if p := w.punct(s, i, c, cn, next); p > 0 {
			crlf := spanWhile(s, i+p, func(r rune) bool { return r == '\r' || r == '\n' })
			return p + crlf
		}
		// \s*[\r\n]+ : the whitespace run up to and including its last CR/LF.
		ws := spanWhile(s, i, isSpace)
		end := -1
		for j := i; j < i+ws; {
			r, n := utf8.DecodeRuneInString(s[j:])
			j += n
			if r == '\r' || r == '\n' {
				end = j
			}
		}
		if end > 0 {
			return end - i
		}
		return w.spaces(s, i, ws, cn)
	}
	// GPT-2: ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`.
	if isLetter(c) {
		return spanWhile(s, i, isLetter)
	}
	if c == ' ' && isLetter(next) {
		return cn + spanWhile(s, i+cn, isLetter)
	}
	if isNumber(c) {
		return w.digits(s, i)
	}
	if c == ' ' && isNumber(next) {
		return cn + w.digits(s, i+cn)
	}
	if p := w.punct(s, i, c, cn, next); p > 0 {
		return p
	}
	return w.spaces(s, i, spanWhile(s, i, isSpace), cn)
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d (case-insensitive for Llama-3).
func (w *wordSplitter) contraction(s string, i int) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	lower := func(b byte) byte {
		if w.llama3 && 'A' <= b && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	a := lower(s[i+1])
	switch a {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < len(s) {
		b := lower(s[i+2])
		if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
			return 3
		}
	}
	return 0
}

func (w *wordSplitter) digits(s string, i int) int {
	if w.maxDigits == 0 {
		return spanWhile(s, i, isNumber)
	}
	j := i
	for k := 0; k < w.maxDigits && j < len(s); k++ {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !isNumber(r) {
			break
		}
		j += n
	}
	return j - i
}

// punct matches ` ?[^\s\p{L}\p{N}]+`; 0 if it does not match at i.
func (w *wordSplitter) punct(s string, i int, c rune, cn int, next rune) int {
	if isOther(c) {
		return spanWhile(s, i, isOther)
	}
	if c == ' ' && next >= 0 && isOther(next) {
		return cn + spanWhile(s, i+cn, isOther)
	}
	return 0
}

// spaces matches `\s+(?!\S)|\s+` given the whitespace run length ws at i:
// the run minus its last character when a non-space follows and the run has
// more than one character, else the whole run.
func (w *wordSplitter) spaces(s string, i, ws, cn int) int {
	if ws == 0 {
		return cn // unreachable: every rune is a letter, number, space or other
	}
	if i+ws == len(s) {
		return ws
	}
	_, lastN := utf8.DecodeLastRuneInString(s[i : i+ws])
	if ws-lastN > 0 {
		return ws - lastN
	}
	return ws
}
