package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// preTokenizer splits (and may rewrite) words. atStart says whether words[0]
// begins at offset 0 of the text passed to Encode.
type preTokenizer interface {
	preTokenize(words []string, atStart bool) []string
}

type preTokSeq []preTokenizer

func (p preTokSeq) preTokenize(words []string, atStart bool) []string {
	for _, x := range p {
		words = x.preTokenize(words, atStart)
	}
	return words
}

// splitBehavior says what happens to the matched delimiters of a split.
type splitBehavior int

const (
	isolated splitBehavior = iota
	removed
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch strings.ToLower(s) {
	case "isolated":
		return isolated, nil
	case "removed":
		return removed, nil
	case "mergedwithprevious", "merged_with_previous":
		return mergedWithPrevious, nil
	case "mergedwithnext", "merged_with_next":
		return mergedWithNext, nil
	case "contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// splitBy cuts word at the given match ranges (sorted, non-overlapping) and
// applies behavior, as Hugging Face's NormalizedString::split does.
func splitBy(word string, matches [][2]int, invert bool, behavior splitBehavior, out []string) []string {
	type span struct {
		start, end int
		match      bool
	}
	var spans []span
	last := 0
	for _, m := range matches {
		if m[0] > last {
			spans = append(spans, span{last, m[0], invert})
		}
		if m[1] > m[0] {
			spans = append(spans, span{m[0], m[1], !invert})
		}
		last = m[1]
	}
	if last < len(word) {
		spans = append(spans, span{last, len(word), invert})
	}
	switch behavior {
	case isolated:
		for _, s := range spans {
			out = append(out, word[s.start:s.end])
		}
	case removed:
		for _, s := range spans {
			if !s.match {
				out = append(out, word[s.start:s.end])
			}
		}
	case mergedWithPrevious: // a match joins the non-match before it
		var pieces [][2]int
		prevMatch := false
		for _, s := range spans {
			if s.match && !prevMatch && len(pieces) > 0 {
				pieces[len(pieces)-1][1] = s.end
			} else {
				pieces = append(pieces, [2]int{s.start, s.end})
			}
			prevMatch = s.match
		}
		for _, p := range pieces {
			out = append(out, word[p[0]:p[1]])
		}
	case mergedWithNext: // a match joins the non-match after it
		var pieces [][2]int
		nextMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !nextMatch && len(pieces) > 0 {
				pieces[len(pieces)-1][0] = s.start
			} else {
				pieces = append(pieces, [2]int{s.start, s.end})
			}
			nextMatch = s.match
		}
		for i := len(pieces) - 1; i >= 0; i-- {
			out = append(out, word[pieces[i][0]:pieces[i][1]])
		}
	case contiguous: // runs of matches become one piece
		var pieces [][2]int
		prevMatch := false
		for _, s := range spans {
			if s.match == prevMatch && len(pieces) > 0 {
				pieces[len(pieces)-1][1] = s.end
			} else {
				pieces = append(pieces, [2]int{s.start, s.end})
			}
			prevMatch = s.match
		}
		for _, p := range pieces {
			out = append(out, word[p[0]:p[1]])
		}
	}
	return out
}

type splitPreTok struct {
	re       *regex
	literal  string
	invert   bool
	behavior splitBehavior
}

func (p *splitPreTok) preTokenize(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		var matches [][2]int
		if p.re != nil {
			matches = p.re.findAll(w)
		} else if p.literal != "" {
			for i := 0; ; {
				j := strings.Index(w[i:], p.literal)
				if j < 0 {
					break
				}
				matches = append(matches, [2]int{i + j, i + j + len(p.literal)})
				i += j + len(p.literal)
			}
		}
		out = splitBy(w, matches, p.invert, p.behavior, out)
	}
	return out
}

// byteLevelPreTok maps each word's UTF-8 bytes to the GPT-2 byte alphabet,
// after optionally splitting with the GPT-2 regex.
type byteLevelPreTok struct {
	table          *byteLevelTable
	addPrefixSpace bool
	re             *regex // nil when use_regex is false
}

func (p *byteLevelPreTok) preTokenize(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		if p.addPrefixSpace && !strings.HasPrefix(w, " ") {
			w = " " + w
		}
		if p.re == nil {
			out = append(out, p.table.encode(w))
			continue
		}
		for _, m := range p.re.findAll(w) {
			out = append(out, p.table.encode(w[m[0]:m[1]]))
		}
	}
	return out
}

// metaspacePreTok replaces spaces with the replacement character and
// prepends one according to the scheme.
type metaspacePreTok struct {
	replacement string
	scheme      string // "always", "first" or "never"
	split       bool
}

func (p *metaspacePreTok) preTokenize(words []string, atStart bool) []string {
	var out []string
	for i, w := range words {
		w = strings.ReplaceAll(w, " ", p.replacement)
		prefix := p.scheme == "always" || (p.scheme == "first" && atStart && i == 0)
		if prefix && !strings.HasPrefix(w, p.replacement) {
			w = p.replacement + w
		}
		if !p.split {
			out = append(out, w)
			continue
		}
		var matches [][2]int
		for j := 0; ; {
			k := strings.Index(w[j:], p.replacement)
			if k < 0 {
				break
			}
			matches = append(matches, [2]int{j + k, j + k + len(p.replacement)})
			j += k + len(p.replacement)
		}
		out = splitBy(w, matches, false, mergedWithNext, out)
	}
	return out
}

// digitsPreTok isolates ASCII digits, one by one or in runs.
type digitsPreTok struct{ individual bool }

func (p digitsPreTok) preTokenize(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		var matches [][2]int
		for i := 0; i < len(w); {
			if w[i] < '0' || w[i] > '9' {
				i++
				continue
			}
			j := i + 1
			if !p.individual {
				for j < len(w) && w[j] >= '0' && w[j] <= '9' {
					j++
				}
			}
			matches = append(matches, [2]int{i, j})
			i = j
		}
		behavior := contiguous
		if p.individual {
			behavior = isolated
		}
		out = splitBy(w, matches, false, behavior, out)
	}
	return out
}

// whitespaceSplitPreTok splits on whitespace and drops it.
type whitespaceSplitPreTok struct{}

func (whitespaceSplitPreTok) preTokenize(words []string, _ bool) []string {
	var out []string
	for _, w := range words {
		out = append(out, strings.FieldsFunc(w, isSpace)...)
	}
	return out
}

var supportedPreTokenizers = []string{"Sequence", "ByteLevel", "Split", "Metaspace", "Digits", "WhitespaceSplit"}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case "Sequence":
		items, err := parseSequence(raw, "pretokenizers", parsePreTokenizer)
		return preTokSeq(items), err
	case "ByteLevel":
		var b struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		p := &byteLevelPreTok{table: newByteLevelTable(), addPrefixSpace: b.AddPrefixSpace}
		if b.UseRegex == nil || *b.UseRegex {
			p.re, _ = compileRegex(gpt2Pattern)
		}
		return p, nil
	case "Split":
		var s struct {
			Pattern  pattern `json:"pattern"`
			Behavior string  `json:"behavior"`
			Invert   bool    `json:"invert"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		beh, err := parseBehavior(s.Behavior)
		if err != nil {
			return nil, fmt.Errorf("Split: %w", err)
		}
		p := &splitPreTok{invert: s.Invert, behavior: beh}
		switch {
		case s.Pattern.Regex != nil:
			if p.re, err = compileRegex(*s.Pattern.Regex); err != nil {
				return nil, fmt.Errorf("Split: %w", err)
			}
		case s.Pattern.String != nil:
			p.literal = *s.Pattern.String
		default:
			return nil, fmt.Errorf("Split: pattern needs String or Regex")
		}
		return p, nil
	case "Metaspace":
		var m struct {
			Replacement    string  `json:"replacement"`
			PrependScheme  *string `json:"prepend_scheme"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
			Split          *bool   `json:"split"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		scheme, err := metaspaceScheme(m.PrependScheme, m.AddPrefixSpace)
		if err != nil {
			return nil, fmt.Errorf("Metaspace: %w", err)
		}
		if utf8.RuneCountInString(m.Replacement) != 1 {
			return nil, fmt.Errorf("Metaspace: replacement %q must be one character", m.Replacement)
		}
		return &metaspacePreTok{replacement: m.Replacement, scheme: scheme, split: m.Split == nil || *m.Split}, nil
	case "Digits":
		var d struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		return digitsPreTok{d.Individual}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPreTok{}, nil
	case "":
		return nil, errNoType
	}
	return nil, errUnsupported("pre_tokenizer", head.Type, supportedPreTokenizers...)
}

// metaspaceScheme resolves prepend_scheme, honouring the legacy
// add_prefix_space field (false means never prepend).
func metaspaceScheme(scheme *string, addPrefixSpace *bool) (string, error) {
	s := "always"
	if scheme != nil {
		s = *scheme
	}
	switch s {
	case "always", "first", "never":
	default:
		return "", fmt.Errorf("unknown prepend_scheme %q (want always, first or never)", s)
	}
	if addPrefixSpace != nil && !*addPrefixSpace {
		s = "never"
	}
	return s, nil
}
