// LiveConnection keeps one WebSocket to /api/profiling/live open while the
// live view is shown, reconnecting with backoff, and exposes the reduced
// state. State is $state.raw: each event replaces the object.
import { backoff, emptyLive, reduceLive } from './live.js';

export class LiveConnection {
  state = $state.raw(emptyLive());
  connected = $state(false);
  failures = $state(0); // connection attempts that failed in a row
  #ws = null;
  #attempt = 0;
  #timer = null;
  #closed = false;
  #pending = [];
  #frame = null;

  // url null means "work it out at each connection attempt" (defaultURL).
  constructor(url = null) {
    this.url = url;
  }

  static defaultURL() {
    return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/api/profiling/live';
  }

  // desktop reports whether the page is in the desktop window, whose asset
  // server (wails://) cannot upgrade to WebSocket but does stream, so the
  // same live stream is read as Server-Sent Events there.
  static desktop() {
    return location.protocol !== 'http:' && location.protocol !== 'https:';
  }

  open() {
    this.#closed = false;
    let ws;
    try {
      ws = this.url || !LiveConnection.desktop() ? new WebSocket(this.url ?? LiveConnection.defaultURL()) : new SSESocket('/api/profiling/live');
    } catch {
      this.#retry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      this.#attempt = 0;
      this.failures = 0;
      this.connected = true;
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.#pending.push(msg);
      // Apply events at most once per frame so a burst of power samples
      // costs one render.
      if (this.#frame == null) this.#frame = requestAnimationFrame(() => this.flush());
    };
    ws.onclose = () => {
      if (!this.connected) this.failures++;
      this.connected = false;
      this.#ws = null;
      if (!this.#closed) this.#retry();
    };
    ws.onerror = () => ws.close();
  }

  flush() {
    this.#frame = null;
    let s = this.state;
    for (const m of this.#pending) s = reduceLive(s, m);
    this.#pending = [];
    this.state = s;
  }

  #retry() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.open(), backoff(this.#attempt++));
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#frame != null) cancelAnimationFrame(this.#frame);
    this.#ws?.close();
  }
}

// SSESocket reads the live stream as Server-Sent Events behind the small part
// of the WebSocket interface LiveConnection uses (onopen, onmessage, onclose,
// onerror, close), so one reconnect policy serves both.
class SSESocket {
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  #es;
  constructor(url) {
    this.#es = new EventSource(url);
    this.#es.onopen = () => this.onopen?.();
    this.#es.onmessage = (e) => this.onmessage?.({ data: e.data });
    // EventSource would retry on its own; hand retries to LiveConnection's
    // backoff instead, as for a closed WebSocket.
    this.#es.onerror = () => this.close();
  }
  close() {
    if (this.#es.readyState === 2) return;
    this.#es.close();
    this.onclose?.();
  }
}
