package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a section of input text before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type normalizerSeq []normalizer

func (n normalizerSeq) normalize(s string) string {
	for _, x := range n {
		s = x.normalize(s)
	}
	return s
}

type unicodeForm struct{ form norm.Form }

func (n unicodeForm) normalize(s string) string { return n.form.String(s) }

type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

// prepend adds a prefix to every non-empty section (the legacy SentencePiece
// layout uses it to add "▁" in front of the text).
type prepend struct{ prefix string }

func (n prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.prefix + s
}

type replace struct {
	re       *regex // nil for a plain string pattern
	old, new string
}

func (n replace) normalize(s string) string {
	if n.re == nil {
		return strings.ReplaceAll(s, n.old, n.new)
	}
	return n.re.replaceAll(s, n.new)
}

type strip struct{ left, right bool }

func (n strip) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, isSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, isSpace)
	}
	return s
}

var supportedNormalizers = []string{"Sequence", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Prepend", "Replace", "Strip"}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case "Sequence":
		items, err := parseSequence(raw, "normalizers", parseNormalizer)
		return normalizerSeq(items), err
	case "NFC":
		return unicodeForm{norm.NFC}, nil
	case "NFD":
		return unicodeForm{norm.NFD}, nil
	case "NFKC":
		return unicodeForm{norm.NFKC}, nil
	case "NFKD":
		return unicodeForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Prepend":
		var p struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		return prepend{p.Prepend}, nil
	case "Replace":
		var r struct {
			Pattern pattern `json:"pattern"`
			Content string  `json:"content"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		switch {
		case r.Pattern.String != nil:
			return replace{old: *r.Pattern.String, new: r.Content}, nil
		case r.Pattern.Regex != nil:
			re, err := compileRegex(*r.Pattern.Regex)
			if err != nil {
				return nil, err
			}
			return replace{re: re, new: r.Content}, nil
		}
		return nil, fmt.Errorf("Replace: pattern needs String or Regex")
	case "Strip":
		var s struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return strip{s.Left, s.Right}, nil
	case "":
		return nil, errNoType
	}
	return nil, errUnsupported("normalizer", head.Type, supportedNormalizers...)
}
