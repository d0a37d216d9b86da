package helper

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ProtocolVersion is the first byte of every frame. A peer that sees another
// version answers ERROR CodeVersion and hangs up, so an app and a helper from
// different releases fail clearly instead of misreading each other.
const ProtocolVersion = 1

// headerSize is version (1) + type (1) + payload length (4, big endian).
const headerSize = 6

// MaxPayload bounds one frame. A powermetrics plist with the three samplers is
// about 30 KB; 4 MiB leaves room for many-core machines and still stops a
// corrupt length from allocating gigabytes.
const MaxPayload = 4 << 20

// MsgType is a frame's kind. Requests (app → helper) are below 0x80, replies
// (helper → app) are 0x80 and above.
type MsgType uint8

const (
	MsgStart  MsgType = 0x01 // payload: uint32 big-endian interval in ms
	MsgStop   MsgType = 0x02 // no payload
	MsgStatus MsgType = 0x03 // no payload

	MsgSample      MsgType = 0x81 // payload: one plist document, as powermetrics wrote it
	MsgError       MsgType = 0x82 // payload: uint16 big-endian code + UTF-8 message
	MsgStatusReply MsgType = 0x83 // payload: JSON Status; also the reply to START and STOP
)

func (t MsgType) String() string {
	switch t {
	case MsgStart:
		return "START"
	case MsgStop:
		return "STOP"
	case MsgStatus:
		return "STATUS"
	case MsgSample:
		return "SAMPLE"
	case MsgError:
		return "ERROR"
	case MsgStatusReply:
		return "STATUS_REPLY"
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

func (t MsgType) known() bool {
	switch t {
	case MsgStart, MsgStop, MsgStatus, MsgSample, MsgError, MsgStatusReply:
		return true
	}
	return false
}

// Frame is one protocol message.
type Frame struct {
	Type    MsgType
	Payload []byte
}

// Protocol errors. ReadFrame wraps them with what it saw.
var (
	ErrVersion       = errors.New("unsupported protocol version")
	ErrFrameTooLarge = errors.New("frame too large")
	ErrUnknownType   = errors.New("unknown message type")
	ErrBadPayload    = errors.New("malformed payload")
)

// WriteFrame writes f as one header + payload. It is not safe for concurrent
// use on the same writer; the server and client each have a single writer.
func WriteFrame(w io.Writer, f Frame) error {
	if len(f.Payload) > MaxPayload {
		return fmt.Errorf("write %s frame: %d bytes: %w", f.Type, len(f.Payload), ErrFrameTooLarge)
	}
	buf := make([]byte, headerSize+len(f.Payload))
	buf[0] = ProtocolVersion
	buf[1] = byte(f.Type)
	binary.BigEndian.PutUint32(buf[2:6], uint32(len(f.Payload)))
	copy(buf[headerSize:], f.Payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Type, err)
	}
	return nil
}

// ReadFrame reads one frame. It returns io.EOF only when the stream ends
// cleanly between frames; a stream cut inside a frame is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (Frame, error) { return readFrame(r, MaxPayload) }

// maxRequestPayload bounds frames the server reads: requests carry at most a
// 4-byte interval, so a client cannot make the root helper allocate more.
const maxRequestPayload = 64

func readFrame(r io.Reader, maxPayload uint32) (Frame, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	if hdr[0] != ProtocolVersion {
		return Frame{}, fmt.Errorf("frame version %d, this build speaks %d: %w", hdr[0], ProtocolVersion, ErrVersion)
	}
	t := MsgType(hdr[1])
	if !t.known() {
		return Frame{}, fmt.Errorf("read frame: %s: %w", t, ErrUnknownType)
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n > maxPayload {
		return Frame{}, fmt.Errorf("read %s frame: %d bytes (max %d): %w", t, n, maxPayload, ErrFrameTooLarge)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read %s payload: %w", t, err)
	}
	return Frame{Type: t, Payload: payload}, nil
}

// StartFrame asks the helper to (re)start powermetrics at the interval. The
// helper clamps it; its STATUS_REPLY says what it used.
func StartFrame(intervalMS uint32) Frame {
	p := make([]byte, 4)
	binary.BigEndian.PutUint32(p, intervalMS)
	return Frame{Type: MsgStart, Payload: p}
}

// ParseStart returns a START frame's interval in ms.
func ParseStart(f Frame) (uint32, error) {
	if f.Type != MsgStart || len(f.Payload) != 4 {
		return 0, fmt.Errorf("START wants a 4-byte interval, got %s with %d bytes: %w", f.Type, len(f.Payload), ErrBadPayload)
	}
	return binary.BigEndian.Uint32(f.Payload), nil
}

// Error codes carried by ERROR frames.
const (
	CodeBadRequest   uint16 = 1 // malformed frame or unexpected message
	CodeVersion      uint16 = 2 // protocol version mismatch
	CodePermission   uint16 = 3 // the peer's uid is not allowed
	CodeStartFailed  uint16 = 4 // powermetrics could not be started
	CodeChildExited  uint16 = 5 // powermetrics stopped on its own
	CodeIdle         uint16 = 6 // nothing asked for within the idle timeout
	CodeBusy         uint16 = 7 // too many connections
	CodeInternal     uint16 = 8 // the helper failed (e.g. could not read the peer's credentials)
	CodeStreamBroken uint16 = 9 // powermetrics wrote something that is not a plist stream
)

// RemoteError is an ERROR frame from the helper.
type RemoteError struct {
	Code    uint16
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("powermetrics helper: %s (code %d)", e.Message, e.Code)
}

// ErrorFrame encodes an ERROR. Invalid UTF-8 in msg is replaced so the
// client can always print it.
func ErrorFrame(code uint16, msg string) Frame {
	msg = toValidUTF8(msg)
	p := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(p, code)
	copy(p[2:], msg)
	return Frame{Type: MsgError, Payload: p}
}

// ParseError decodes an ERROR frame.
func ParseError(f Frame) (*RemoteError, error) {
	if f.Type != MsgError || len(f.Payload) < 2 {
		return nil, fmt.Errorf("ERROR wants a 2-byte code, got %s with %d bytes: %w", f.Type, len(f.Payload), ErrBadPayload)
	}
	return &RemoteError{Code: binary.BigEndian.Uint16(f.Payload), Message: toValidUTF8(string(f.Payload[2:]))}, nil
}

// Status is the helper's answer to STATUS, START and STOP.
type Status struct {
	Protocol     int      `json:"protocol"`
	Running      bool     `json:"running"`      // a powermetrics child is running for this connection
	IntervalMS   int      `json:"interval_ms"`  // the clamped interval in use (0 when not running)
	Powermetrics string   `json:"powermetrics"` // the binary the helper runs
	Argv         []string `json:"argv"`         // the child's argv (without argv[0]) when running
	PeerUID      uint32   `json:"peer_uid"`     // the uid the helper saw for this connection
	Samples      uint64   `json:"samples"`      // plists relayed on this connection
	HelperPID    int      `json:"helper_pid"`   // for `helper status` and logs
	HelperUID    int      `json:"helper_uid"`   // 0 when installed as a daemon
	Connections  int      `json:"connections"`  // open connections, this one included
	IdleTimeout  string   `json:"idle_timeout"` // e.g. "1m0s"
	ChildExitMsg string   `json:"child_exit,omitempty"`
}

// StatusFrame encodes a STATUS_REPLY.
func StatusFrame(s Status) Frame {
	b, err := json.Marshal(s)
	if err != nil { // Status has only plain fields; this cannot fail.
		panic(fmt.Sprintf("helper: marshal status: %v", err))
	}
	return Frame{Type: MsgStatusReply, Payload: b}
}

// ParseStatus decodes a STATUS_REPLY.
func ParseStatus(f Frame) (Status, error) {
	var s Status
	if f.Type != MsgStatusReply {
		return s, fmt.Errorf("want STATUS_REPLY, got %s: %w", f.Type, ErrBadPayload)
	}
	if err := json.Unmarshal(f.Payload, &s); err != nil {
		return s, fmt.Errorf("decode STATUS_REPLY: %v: %w", err, ErrBadPayload)
	}
	return s, nil
}

func toValidUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
