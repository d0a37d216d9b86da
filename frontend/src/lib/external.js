// Runs that are not our engine's: requests to inference servers (kind
// "server") and energy windows (kind "window"). Helpers shared by the run
// analysis, the history and the live view.

export const KINDS = [
  { key: 'engine', name: 'Built-in engine' },
  { key: 'server', name: 'Inference server' },
  { key: 'window', name: 'Energy window' },
];

// runKind: a record's or a run-list row's kind (runs stored before kinds
// existed are engine runs).
export function runKind(x) {
  return x?.summary?.kind || x?.run?.kind || x?.kind || 'engine';
}

export function kindName(kind) {
  return KINDS.find((k) => k.key === kind)?.name ?? kind;
}

// Why a run has no layers or components, or '' when it may have them.
export function unavailableReason(kind) {
  if (kind === 'server') {
    return 'Layers and components: unavailable (external server). The model runs in another process, so only what crosses the connection can be timed: phases, streamed chunks and tokens. Energy is this machine\u2019s, measured with the same sources and idle baseline as engine runs.';
  }
  if (kind === 'window') {
    return 'Layers, components and tokens: unavailable (energy window). A window measures whatever the machine did while it was open, not a model\u2019s forward pass; J per token uses the token counts its caller gave.';
  }
  return '';
}

// tokenCount shows a count, or null when its source says it is unavailable.
export function tokenCount(n, source) {
  if (typeof source === 'string' && source.startsWith('unavailable')) return null;
  return typeof n === 'number' ? n : null;
}

// serverRows lists what a server run's description says, for a table.
export function serverRows(x) {
  if (!x) return [];
  const rows = [
    ['Endpoint', `${x.endpoint}${x.route ?? ''}${x.endpoint_name ? ` (saved as ${x.endpoint_name})` : ''}`],
    ['API', x.api],
    ['Model (as the server names it)', x.server_model],
    ['Input tokens from', x.input_tokens_source],
    ['Output tokens from', x.output_tokens_source],
    ['Streamed chunks with text', `${x.chunks}${x.split_chunks ? `, ${x.split_chunks} carrying several tokens (interval split evenly)` : ''}`],
  ];
  if (x.finish_reason) rows.push(['Finish reason', x.finish_reason]);
  if (x.reported_output_tokens != null) rows.push(['Server reported', `${x.reported_input_tokens ?? '?'} prompt, ${x.reported_output_tokens} completion tokens`]);
  const req = x.request ?? {};
  const params = Object.keys(req)
    .filter((k) => k !== 'stream_options')
    .sort()
    .map((k) => `${k} ${JSON.stringify(req[k])}`);
  if (params.length) rows.push(['Request', params.join(', ')]);
  return rows;
}

// serverTimings lists the server's own timings, sorted by name, in ms.
export function serverTimings(x) {
  const t = x?.server_timings ?? {};
  return Object.keys(t)
    .sort()
    .map((k) => {
      let ms = null;
      if (k.endsWith('_ns')) ms = t[k] / 1e6;
      else if (k.endsWith('_ms')) ms = t[k];
      return { name: k, value: t[k], ms };
    });
}
