package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// liveWriteTimeout bounds one WebSocket write; a client slower than this is
// disconnected rather than allowed to hold events back.
const liveWriteTimeout = 5 * time.Second

// live streams the active run's events. The queue's subscription replays the
// current state first and down-samples a client that falls behind, so
// inference never waits for a slow client; one that falls hopelessly behind
// is closed with a "try again later" status and can reconnect to resume.
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	if h.opts.Queue == nil {
		writeError(w, http.StatusServiceUnavailable, "live unavailable", "this server was started without a run queue")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		h.liveSSE(w, r)
		return
	}
	// Subscribe before answering, so nothing published after the client
	// sees the handshake can be missed.
	sub := h.opts.Queue.Subscribe()
	defer h.opts.Queue.Unsubscribe(sub)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The Origin was checked by ServeHTTP for network clients; the
		// desktop window's origin (wails://) is not an http origin.
		InsecureSkipVerify: h.opts.Trusted,
	})
	if err != nil {
		return // Accept has written the error response
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // we never expect messages; this notices the close

	for {
		ev, ok := sub.Next(ctx)
		if !ok {
			switch {
			case ctx.Err() != nil:
			case sub.Dropped():
				c.Close(websocket.StatusTryAgainLater, "client too slow; reconnect to resume")
			default:
				c.Close(websocket.StatusGoingAway, "server shutting down")
			}
			return
		}
		data, err := json.Marshal(ev)
		if err != nil {
			h.log.Error("live event not encodable", "type", ev.Type, "err", err)
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, liveWriteTimeout)
		err = c.Write(wctx, websocket.MessageText, data)
		cancel()
		if err != nil {
			return
		}
	}
}

// liveSSE streams the same events as Server-Sent Events. The desktop
// window's asset server cannot upgrade to WebSocket but does stream
// responses, so the window's page uses this form of the live stream.
func (h *Handler) liveSSE(w http.ResponseWriter, r *http.Request) {
	// Wails' asset-server writer has no Flush, but hands every Write to the
	// webview as it comes, so a writer that cannot flush still streams.
	// Subscribe before answering, so nothing published after the client
	// sees the response can be missed.
	sub := h.opts.Queue.Subscribe()
	defer h.opts.Queue.Unsubscribe(sub)
	h.log.Info("live client connected", "transport", "sse", "remote", r.RemoteAddr)
	defer h.log.Info("live client gone", "transport", "sse", "remote", r.RemoteAddr)
	rc := http.NewResponseController(w)
	// The stream lasts as long as the client stays: lift the server's
	// request read deadline (reaching it would end the request) and bound
	// each write instead. Errors mean a writer without deadlines (Wails').
	_ = rc.SetReadDeadline(time.Time{})
	flush := func() { _ = rc.Flush() }
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flush()

	for {
		ev, ok := sub.Next(r.Context())
		if !ok {
			return
		}
		data, err := json.Marshal(ev)
		if err != nil {
			h.log.Error("live event not encodable", "type", ev.Type, "err", err)
			continue
		}
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return
		}
		flush()
	}
}
