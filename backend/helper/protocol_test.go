package helper

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		StartFrame(250),
		{Type: MsgStop},
		{Type: MsgStatus},
		{Type: MsgSample, Payload: fixturePlist},
		ErrorFrame(CodeChildExited, "powermetrics exited: exit status 1"),
		StatusFrame(Status{Protocol: 1, Running: true, IntervalMS: 250, Argv: Argv(250), PeerUID: 501}),
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range frames {
		got, err := ReadFrame(&buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d: got %s %d bytes, want %s %d bytes", i, got.Type, len(got.Payload), want.Type, len(want.Payload))
		}
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}

	ms, err := ParseStart(frames[0])
	if err != nil || ms != 250 {
		t.Errorf("ParseStart = %d, %v; want 250", ms, err)
	}
	rerr, err := ParseError(frames[4])
	if err != nil || rerr.Code != CodeChildExited || rerr.Message != "powermetrics exited: exit status 1" {
		t.Errorf("ParseError = %+v, %v", rerr, err)
	}
	st, err := ParseStatus(frames[5])
	if err != nil || !st.Running || st.IntervalMS != 250 || st.PeerUID != 501 || strings.Join(st.Argv, " ") != strings.Join(Argv(250), " ") {
		t.Errorf("ParseStatus = %+v, %v", st, err)
	}
}

func TestReadFrameMalformed(t *testing.T) {
	header := func(version, typ byte, n uint32) []byte {
		return []byte{version, typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"wrong version", header(2, byte(MsgStart), 4), ErrVersion},
		{"version zero", header(0, byte(MsgStatus), 0), ErrVersion},
		{"unknown type", header(ProtocolVersion, 0x44, 0), ErrUnknownType},
		{"huge length", header(ProtocolVersion, byte(MsgSample), MaxPayload+1), ErrFrameTooLarge},
		{"cut in header", header(ProtocolVersion, byte(MsgStart), 4)[:3], io.ErrUnexpectedEOF},
		{"cut in payload", append(header(ProtocolVersion, byte(MsgStart), 4), 0, 0), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseMalformedPayloads(t *testing.T) {
	if _, err := ParseStart(Frame{Type: MsgStart, Payload: []byte{1, 2, 3}}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("3-byte START: %v", err)
	}
	if _, err := ParseStart(Frame{Type: MsgStop, Payload: []byte{0, 0, 0, 1}}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("STOP parsed as START: %v", err)
	}
	if _, err := ParseError(Frame{Type: MsgError, Payload: []byte{1}}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("1-byte ERROR: %v", err)
	}
	if _, err := ParseStatus(Frame{Type: MsgStatusReply, Payload: []byte("{")}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("truncated STATUS_REPLY: %v", err)
	}
	if err := WriteFrame(io.Discard, Frame{Type: MsgSample, Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized write: %v", err)
	}
	rerr, err := ParseError(ErrorFrame(CodeBadRequest, "bad \xff byte"))
	if err != nil || rerr.Message != "bad \uFFFD byte" {
		t.Errorf("invalid UTF-8 message = %q, %v", rerr.Message, err)
	}
}
