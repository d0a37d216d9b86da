package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder turns token pieces back into text. Like Hugging Face's decoders it
// works as a chain: each step maps a list of strings to a list of strings and
// the final list is concatenated.
type decoder interface {
	decodeChain(pieces []string) []string
}

func (t *Tokenizer) decodePieces(pieces []string) string {
	return strings.Join(t.decoder.decodeChain(pieces), "")
}

type decoderSeq []decoder

func (d decoderSeq) decodeChain(p []string) []string {
	for _, x := range d {
		p = x.decodeChain(p)
	}
	return p
}

// byteLevelDecoder maps byte-alphabet pieces back to bytes and the bytes to
// text, replacing invalid UTF-8 with U+FFFD.
type byteLevelDecoder struct{ table *byteLevelTable }

func (d byteLevelDecoder) decodeChain(p []string) []string {
	var buf []byte
	for _, s := range p {
		buf = d.table.decode(s, buf)
	}
	return []string{lossyUTF8(buf)}
}

type replaceDecoder struct{ old, new string }

func (d replaceDecoder) decodeChain(p []string) []string {
	out := make([]string, len(p))
	for i, s := range p {
		out[i] = strings.ReplaceAll(s, d.old, d.new)
	}
	return out
}

// byteFallbackDecoder turns runs of <0xNN> pieces into text; a run that is
// not valid UTF-8 becomes one U+FFFD per byte, as in Hugging Face.
type byteFallbackDecoder struct{}

func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range s[3:5] {
		b <<= 4
		switch {
		case c >= '0' && c <= '9':
			b |= byte(c - '0')
		case c >= 'A' && c <= 'F':
			b |= byte(c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			b |= byte(c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}

func (byteFallbackDecoder) decodeChain(p []string) []string {
	out := make([]string, 0, len(p))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, s := range p {
		if b, ok := parseByteToken(s); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, s)
	}
	flush()
	return out
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(p []string) []string { return []string{strings.Join(p, "")} }

// stripDecoder removes up to start leading and stop trailing copies of
// content from each piece.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(p []string) []string {
	out := make([]string, len(p))
	for i, s := range p {
		for k := 0; k < d.start; k++ {
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 || r != d.content {
				break
			}
			s = s[n:]
		}
		for k := 0; k < d.stop; k++ {
			r, n := utf8.DecodeLastRuneInString(s)
			if n == 0 || r != d.content {
				break
			}
			s = s[:len(s)-n]
		}
		out[i] = s
	}
	return out
}

// metaspaceDecoder turns the replacement character back into spaces. In the
// first piece Hugging Face drops every replacement character (not only the
// leading one) unless the scheme is "never"; that is reproduced here.
type metaspaceDecoder struct {
	replacement rune
	dropFirst   bool
}

func (d metaspaceDecoder) decodeChain(p []string) []string {
	out := make([]string, len(p))
	for i, s := range p {
		if i == 0 && d.dropFirst {
			out[i] = strings.ReplaceAll(s, string(d.replacement), "")
		} else {
			out[i] = strings.ReplaceAll(s, string(d.replacement), " ")
		}
	}
	return out
}

var supportedDecoders = []string{"Sequence", "ByteLevel", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace"}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case "Sequence":
		items, err := parseSequence(raw, "decoders", parseDecoder)
		return decoderSeq(items), err
	case "ByteLevel":
		return byteLevelDecoder{newByteLevelTable()}, nil
	case "Replace":
		var r struct {
			Pattern pattern `json:"pattern"`
			Content string  `json:"content"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		if r.Pattern.String == nil {
			return nil, fmt.Errorf("Replace decoder: only String patterns are supported")
		}
		return replaceDecoder{*r.Pattern.String, r.Content}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		var s struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		r, n := utf8.DecodeRuneInString(s.Content)
		if n == 0 || n != len(s.Content) {
			return nil, fmt.Errorf("Strip decoder: content %q must be one character", s.Content)
		}
		return stripDecoder{r, s.Start, s.Stop}, nil
	case "Metaspace":
		var m struct {
			Replacement    string  `json:"replacement"`
			PrependScheme  *string `json:"prepend_scheme"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		scheme, err := metaspaceScheme(m.PrependScheme, m.AddPrefixSpace)
		if err != nil {
			return nil, fmt.Errorf("Metaspace decoder: %w", err)
		}
		r, n := utf8.DecodeRuneInString(m.Replacement)
		if n == 0 || n != len(m.Replacement) {
			return nil, fmt.Errorf("Metaspace decoder: replacement %q must be one character", m.Replacement)
		}
		return metaspaceDecoder{replacement: r, dropFirst: scheme != "never"}, nil
	case "":
		return nil, errNoType
	}
	return nil, errUnsupported("decoder", head.Type, supportedDecoders...)
}

// StreamDecoder turns ids into text one token at a time, for printing a
// generation as it happens. The concatenation of everything it returns equals
// Decode of all ids (for valid UTF-8 output), and no returned string ever
// ends in the middle of a UTF-8 character: bytes of an incomplete character
// (from <0xNN> byte-fallback tokens or byte-level tokens) are held back until
// the character completes.
//
// It decodes a small window: one already emitted token as context (so that
// decoders which treat the first piece specially, like Strip and Metaspace,
// see the same surroundings as in Decode) plus the pending tokens, and emits
// what the pending tokens add to the context's text. The context is never a
// <0xNN> token, because ByteFallback decodes a run of byte tokens as a unit.
//
// A StreamDecoder is not safe for concurrent use; create one per generation.
type StreamDecoder struct {
	t          *Tokenizer
	ctx        int // context token id, -1 for none
	pending    []int
	window     []int
	prefixText string // Decode of the context alone
}

// maxPending bounds how many tokens are held back waiting for a character
// to complete. A UTF-8 character has at most 4 bytes and every token adds at
// least one, so a longer wait means the bytes are invalid and will never
// complete; they are then emitted as U+FFFD.
const maxPending = 4

// NewStreamDecoder returns a decoder for one stream of ids.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t, ctx: -1} }

// Next adds one id and returns the text that became complete with it, which
// may be "" (the token ended mid-character, or decodes to nothing).
func (s *StreamDecoder) Next(id int) string {
	s.pending = append(s.pending, id)
	text := s.decodeWindow()
	out := text[commonPrefixLen(text, s.prefixText):]
	if len(s.pending) < maxPending && strings.HasSuffix(out, "\uFFFD") {
		return "" // wait for the rest of the character
	}
	for i := len(s.pending) - 1; i >= 0; i-- {
		if p, ok := s.t.piece(s.pending[i]); ok {
			if _, isByte := parseByteToken(p); !isByte {
				s.ctx = s.pending[i]
				s.prefixText = s.t.Decode([]int{s.ctx})
				break
			}
		}
	}
	s.pending = s.pending[:0]
	return out
}

func (s *StreamDecoder) decodeWindow() string {
	s.window = s.window[:0]
	if s.ctx >= 0 {
		s.window = append(s.window, s.ctx)
	}
	s.window = append(s.window, s.pending...)
	return s.t.Decode(s.window)
}

// commonPrefixLen is normally len(b) (the context's text is a prefix of the
// window's text); it guards against a decoder that rewrites earlier text.
func commonPrefixLen(a, b string) int {
	if strings.HasPrefix(a, b) {
		return len(b)
	}
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) {
		n--
	}
	return n
}

// Flush returns any held-back text (incomplete bytes become U+FFFD). Call it
// when the stream ends.
func (s *StreamDecoder) Flush() string {
	if len(s.pending) == 0 {
		return ""
	}
	text := s.decodeWindow()
	s.pending = s.pending[:0]
	return text[commonPrefixLen(text, s.prefixText):]
}
