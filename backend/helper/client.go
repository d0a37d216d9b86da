package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// requestTimeout bounds a STATUS/START/STOP round trip when the caller's
// context has no deadline.
const requestTimeout = 5 * time.Second

// Client is one connection to the helper. Use Status, or Start then Read:
// after Start, Read yields powermetrics' raw stdout — plist documents with a
// NUL before every document after the first, exactly as
// `powermetrics -f plist` writes them — so a parser of the tool's output reads
// from a Client unchanged. A Client is not safe for concurrent use, except
// Close, which may be called from another goroutine to stop a Read.
type Client struct {
	conn      *net.UnixConn
	path      string
	pending   []byte
	docs      uint64
	streaming bool
	closeOnce sync.Once
}

// Dial connects to the helper's socket.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		hint := "is the helper installed and running? Run 'energyprofiler helper install', then 'energyprofiler helper status'"
		if errors.Is(err, os.ErrPermission) {
			hint = "the socket is not writable by this user; reinstall the helper"
		}
		return nil, fmt.Errorf("connect to the powermetrics helper at %s: %w (%s)", socketPath, err, hint)
	}
	return &Client{conn: conn.(*net.UnixConn), path: socketPath}, nil
}

// Close ends the connection; the helper then kills its powermetrics.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}

// Status asks the helper for its state. It cannot be used while streaming
// (open a second connection for that).
func (c *Client) Status(ctx context.Context) (Status, error) {
	if c.streaming {
		return Status{}, errors.New("helper status: this connection is streaming; use another connection")
	}
	return c.roundTrip(ctx, Frame{Type: MsgStatus})
}

// Start asks the helper to run powermetrics at interval (clamped to
// 100 ms–10 s) and returns the helper's status, whose IntervalMS is the
// interval in use. Samples then arrive through Read.
func (c *Client) Start(ctx context.Context, interval time.Duration) (Status, error) {
	ms := interval.Milliseconds()
	ms = min(max(ms, 0), MaxIntervalMS)
	st, err := c.roundTrip(ctx, StartFrame(uint32(ms)))
	if err != nil {
		return st, err
	}
	c.streaming = true
	return st, nil
}

func (c *Client) roundTrip(ctx context.Context, req Frame) (Status, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(requestTimeout)
	}
	c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := WriteFrame(c.conn, req); err != nil {
		// A helper that refuses us (uid, busy) says why and hangs up at
		// once, so our write can fail with the reason still unread.
		if f, rerr := ReadFrame(c.conn); rerr == nil && f.Type == MsgError {
			if remote, perr := ParseError(f); perr == nil {
				return Status{}, c.wrap(req.Type, remote)
			}
		}
		return Status{}, c.wrap(req.Type, err)
	}
	for {
		f, err := ReadFrame(c.conn)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return Status{}, c.wrap(req.Type, err)
		}
		switch f.Type {
		case MsgStatusReply:
			st, err := ParseStatus(f)
			return st, c.wrap(req.Type, err)
		case MsgError:
			rerr, err := ParseError(f)
			if err != nil {
				return Status{}, c.wrap(req.Type, err)
			}
			return Status{}, c.wrap(req.Type, rerr)
		case MsgSample:
			// A sample already in flight before STOP/STATUS; skip it.
		default:
			return Status{}, c.wrap(req.Type, fmt.Errorf("unexpected %s: %w", f.Type, ErrBadPayload))
		}
	}
}

func (c *Client) wrap(t MsgType, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("powermetrics helper %s at %s: %w", t, c.path, err)
}

// Read implements io.Reader over the relayed powermetrics output. An ERROR
// from the helper (powermetrics exited, idle timeout) is returned as a
// *RemoteError; a closed connection is io.EOF.
func (c *Client) Read(p []byte) (int, error) {
	if !c.streaming {
		return 0, errors.New("read from the powermetrics helper before Start")
	}
	for len(c.pending) == 0 {
		f, err := ReadFrame(c.conn)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0, io.EOF
			}
			return 0, err
		}
		switch f.Type {
		case MsgSample:
			doc := f.Payload
			if len(doc) > 0 && doc[len(doc)-1] != '\n' {
				doc = append(doc, '\n')
			}
			if c.docs > 0 {
				doc = append([]byte{0}, doc...)
			}
			c.docs++
			c.pending = doc
		case MsgError:
			rerr, err := ParseError(f)
			if err != nil {
				return 0, c.wrap(MsgSample, err)
			}
			return 0, rerr
		case MsgStatusReply:
			// The reply to a STOP/START sent on this connection; not data.
		default:
			return 0, c.wrap(MsgSample, fmt.Errorf("unexpected %s: %w", f.Type, ErrBadPayload))
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Stream dials the helper, starts powermetrics at interval and returns the
// raw plist stream. Closing it, or ending ctx, disconnects, which makes the
// helper kill powermetrics.
func Stream(ctx context.Context, socketPath string, interval time.Duration) (io.ReadCloser, Status, error) {
	c, err := Dial(ctx, socketPath)
	if err != nil {
		return nil, Status{}, err
	}
	st, err := c.Start(ctx, interval)
	if err != nil {
		c.Close()
		return nil, st, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &stream{Client: c, stop: stop}, st, nil
}

type stream struct {
	*Client
	stop func() bool
}

func (s *stream) Close() error {
	s.stop()
	return s.Client.Close()
}
