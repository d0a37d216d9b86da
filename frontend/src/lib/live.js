// The live view's state, built from the WebSocket's events by a pure reducer
// so it can be tested without a socket. Each event returns a new state object
// (arrays are copied on write), which Svelte's $state.raw picks up cheaply.
import { appendLivePower } from './transforms.js';

export function emptyLive() {
  return {
    runId: '',
    queue: { active: '', queued: 0 },
    meta: null, // the `run` event
    status: 'idle', // idle | running | done | failed | cancelled
    error: '',
    phase: null,
    op: null,
    tokens: [],
    power: { series: {}, total: { domain: 'total', family: 'total', kind: 'measured', points: [] } },
    heatmap: null,
    summary: null,
    cooldown: null, // {seconds, repeat_index, repeat_count, repeat_group} while a repeat waits
  };
}

// reduceLive applies one message {run_id, type, data}.
// The profiler's own event names, accepted as aliases in case the API
// forwards them unchanged.
const ALIASES = { run_started: 'started', position: 'op', completed: 'finished' };

export function reduceLive(state, msg) {
  if (msg && ALIASES[msg.type]) msg = { ...msg, type: ALIASES[msg.type] };
  const d = msg?.data ?? {};
  const id = msg?.run_id ?? '';
  // A new run resets the per-run parts.
  const fresh = id && id !== state.runId && ['run', 'started', 'phase', 'token', 'power', 'heatmap', 'op', 'cooldown'].includes(msg.type);
  let s = fresh ? { ...emptyLive(), queue: state.queue, runId: id, status: 'running' } : { ...state };
  switch (msg?.type) {
    case 'queue':
      s.queue = { active: d.active ?? '', queued: d.queued ?? 0 };
      break;
    case 'cooldown':
      s.cooldown = d;
      s.status = 'running';
      break;
    case 'run':
      s.meta = d;
      s.status = 'running';
      s.cooldown = null;
      break;
    case 'started':
      s.status = 'running';
      break;
    case 'phase':
      s.phase = d;
      break;
    case 'op':
      s.op = d;
      break;
    case 'token': {
      const t = d.token ?? d;
      const tok = {
        index: t.index,
        piece: t.piece ?? t.text ?? '',
        durationMs: t.duration_ms ?? null,
        energyJ: typeof t.energy_j === 'number' ? t.energy_j : null,
        label: t.energy_label ?? t.label ?? 'unavailable',
        powerW: typeof t.power_w === 'number' ? t.power_w : null,
      };
      s.tokens = state.tokens.length && !fresh ? state.tokens.concat(tok) : [tok];
      break;
    }
    case 'power':
      s.power = appendLivePower(s.power, d.power ? { t_ns: d.t_ns, ...d.power } : d);
      break;
    case 'heatmap':
      s.heatmap = d.heatmap ?? d;
      break;
    case 'finished':
      s.status = d.state ?? { completed: 'done' }[d.status] ?? d.status ?? 'done';
      s.error = d.error ?? '';
      s.summary = d.summary ?? null;
      s.op = null;
      break;
    default:
      return state;
  }
  return s;
}

// Reconnect delays: 0.5 s doubling to 10 s.
export function backoff(attempt) {
  return Math.min(10000, 500 * 2 ** attempt);
}
