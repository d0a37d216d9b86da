package helper

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestSplitterRealStream(t *testing.T) {
	// powermetrics: doc, then NUL + doc, …; the last one may have no NUL after.
	stream := bytes.Join([][]byte{fixturePlist, fixturePlist, fixturePlist}, []byte{0})
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"halves":   iotest.HalfReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			sp := newDocSplitter(r)
			for i := range 3 {
				doc, err := sp.Next()
				if err != nil {
					t.Fatalf("doc %d: %v", i, err)
				}
				// The newline after </plist> may arrive in the next read; the
				// splitter does not wait for it (the client adds it back).
				if !bytes.Equal(bytes.TrimSuffix(doc, []byte("\n")), bytes.TrimSuffix(fixturePlist, []byte("\n"))) {
					t.Fatalf("doc %d: %d bytes, want the fixture's %d (starts %q)", i, len(doc), len(fixturePlist), doc[:min(20, len(doc))])
				}
			}
			if _, err := sp.Next(); err != io.EOF {
				t.Fatalf("after 3 docs: %v, want io.EOF", err)
			}
		})
	}
}

func TestSplitterNoNewlineAndLeadingJunk(t *testing.T) {
	sp := newDocSplitter(strings.NewReader("\n\x00<?xml?><plist>a</plist>\x00<?xml?><plist>b</plist>"))
	for _, want := range []string{"<?xml?><plist>a</plist>", "<?xml?><plist>b</plist>"} {
		doc, err := sp.Next()
		if err != nil || string(doc) != want {
			t.Fatalf("Next = %q, %v; want %q", doc, err, want)
		}
	}
}

func TestSplitterTruncatedAndOversized(t *testing.T) {
	sp := newDocSplitter(bytes.NewReader(fixturePlist[:len(fixturePlist)/2]))
	if _, err := sp.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("half a document: %v, want io.ErrUnexpectedEOF", err)
	}
	huge := io.MultiReader(strings.NewReader("<?xml?><plist>"), io.LimitReader(zeroesA{}, MaxPayload+10))
	sp = newDocSplitter(huge)
	if _, err := sp.Next(); !errors.Is(err, ErrDocTooLarge) {
		t.Errorf("endless document: %v, want ErrDocTooLarge", err)
	}
}

type zeroesA struct{}

func (zeroesA) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
