package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode table: printable Latin-1 bytes map
// to themselves, the other bytes to U+0100 onwards in byte order (so space
// is 'Ġ' and '\n' is 'Ċ'). It is computed, never mutated.
func byteToRune(b byte) rune {
	switch {
	case b >= '!' && b <= '~', b >= 0xA1 && b <= 0xAC, b >= 0xAE:
		return rune(b)
	}
	// Count the non-printable bytes below b: they take 256, 257, … in order.
	n := 0
	for c := 0; c < int(b); c++ {
		if !(c >= '!' && c <= '~' || c >= 0xA1 && c <= 0xAC || c >= 0xAE) {
			n++
		}
	}
	return rune(256 + n)
}

// byteLevelTable holds both directions of the byte alphabet.
type byteLevelTable struct {
	enc [256]rune
	dec map[rune]byte
}

func newByteLevelTable() *byteLevelTable {
	t := &byteLevelTable{dec: make(map[rune]byte, 256)}
	for b := 0; b < 256; b++ {
		r := byteToRune(byte(b))
		t.enc[b] = r
		t.dec[r] = byte(b)
	}
	return t
}

// encode maps the UTF-8 bytes of s to the byte alphabet.
func (t *byteLevelTable) encode(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(t.enc[s[i]])
	}
	return b.String()
}

// decode maps a byte-alphabet piece back to raw bytes. A piece with a
// character outside the alphabet (such as an added token with non-ASCII text)
// is taken as its own UTF-8 bytes, as Hugging Face does.
func (t *byteLevelTable) decode(piece string, dst []byte) []byte {
	start := len(dst)
	for _, r := range piece {
		b, ok := t.dec[r]
		if !ok {
			return append(dst[:start], piece...)
		}
		dst = append(dst, b)
	}
	return dst
}

// lossyUTF8 converts bytes to a string, replacing each invalid sequence
// with U+FFFD the way Rust's String::from_utf8_lossy does (one replacement
// per maximal invalid prefix).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			// Swallow the rest of a truncated multi-byte sequence as one error.
			n = invalidPrefixLen(b)
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// invalidPrefixLen is the length of the maximal prefix of b that starts a
// valid UTF-8 sequence but does not complete it (at least 1).
func invalidPrefixLen(b []byte) int {
	need := 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	default:
		return 1
	}
	n := 1
	for n < need && n < len(b) && b[n]&0xC0 == 0x80 {
		// The second byte's range is restricted for some leads; keep it simple
		// and accept continuation bytes, which matches Rust for common cases.
		n++
	}
	return n
}
