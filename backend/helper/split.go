package helper

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrDocTooLarge means powermetrics wrote more than MaxPayload bytes without
// closing a plist: not a stream we understand.
var ErrDocTooLarge = errors.New("plist document too large")

var plistEnd = []byte("</plist>")

// docSplitter cuts powermetrics' `-f plist` stdout into documents. The tool
// writes a NUL at the start of every document after the first, so a document
// is complete at `</plist>`, not at the next NUL; cutting there sends each
// sample as soon as it is written instead of one interval late.
type docSplitter struct {
	r       io.Reader
	buf     []byte
	scanned int // bytes of buf already searched for plistEnd
	err     error
}

func newDocSplitter(r io.Reader) *docSplitter { return &docSplitter{r: r} }

// Next returns the next document, from `<?xml` to `</plist>` plus its
// newline. Leading NULs and whitespace are dropped. At the end of the stream
// it returns io.EOF, or io.ErrUnexpectedEOF when a document was cut short.
func (s *docSplitter) Next() ([]byte, error) {
	for {
		if trimmed := bytes.TrimLeft(s.buf, "\x00 \t\r\n"); len(trimmed) != len(s.buf) {
			s.scanned = max(0, s.scanned-(len(s.buf)-len(trimmed)))
			s.buf = trimmed
		}
		from := max(0, s.scanned-len(plistEnd)+1)
		if i := bytes.Index(s.buf[from:], plistEnd); i >= 0 {
			end := from + i + len(plistEnd)
			if end < len(s.buf) && s.buf[end] == '\n' {
				end++
			}
			doc := bytes.Clone(s.buf[:end])
			s.buf = s.buf[end:]
			s.scanned = 0
			return doc, nil
		}
		s.scanned = len(s.buf)
		if len(s.buf) > MaxPayload {
			return nil, fmt.Errorf("%d bytes without </plist>: %w", len(s.buf), ErrDocTooLarge)
		}
		if s.err != nil {
			if len(s.buf) > 0 {
				return nil, fmt.Errorf("stream ended inside a plist (%d bytes): %w", len(s.buf), io.ErrUnexpectedEOF)
			}
			return nil, s.err
		}
		var chunk [32 << 10]byte
		n, err := s.r.Read(chunk[:])
		s.buf = append(s.buf, chunk[:n]...)
		if err != nil {
			s.err = err
		}
	}
}
