// All data comes from the local API over relative URLs, so the same code works
// in a browser against `energyprofiler serve` and inside the desktop window.

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail ? `${error}: ${detail}` : error);
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

export async function getJSON(path, fetchImpl = fetch) {
  const res = await fetchImpl(path, { headers: { Accept: 'application/json' } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    throw new ApiError(res.status, body?.error ?? `HTTP ${res.status}`, body?.detail ?? '');
  }
  return body;
}

export function health(fetchImpl) {
  return getJSON('/api/health', fetchImpl);
}

async function send(method, path, body, fetchImpl = fetch) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetchImpl(path, init);
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data?.error ?? `HTTP ${res.status}`, data?.detail ?? '');
  return data;
}

export function listModels(fetchImpl) {
  return getJSON('/api/profiling/models', fetchImpl);
}

export function generate(req, fetchImpl) {
  return send('POST', '/api/profiling/generate', req, fetchImpl);
}

// listEndpoints probes the saved inference servers (and an ollama on its
// default port): reachable or not, and their models.
export function listEndpoints(fetchImpl) {
  return getJSON('/api/profiling/endpoints', fetchImpl);
}

export function queueStatus(fetchImpl) {
  return getJSON('/api/profiling/queue', fetchImpl);
}

// runsQuery builds the run list's query string, leaving out empty fields.
export function runsQuery(q = {}) {
  const p = new URLSearchParams();
  for (const k of ['search', 'model', 'machine', 'status', 'kind', 'from', 'to', 'sort', 'order', 'limit', 'offset']) {
    if (q[k] !== undefined && q[k] !== null && q[k] !== '') p.set(k, String(q[k]));
  }
  for (const t of q.tags ?? []) if (t) p.append('tag', t);
  const s = p.toString();
  return s ? '?' + s : '';
}

// listRuns reads one page of the run list. The API answers with the list
// itself (a JSON array) and the number of matches in X-Total-Count; this
// returns both as {runs, total}.
export async function listRuns(q, fetchImpl = fetch) {
  const res = await fetchImpl('/api/profiling/runs' + runsQuery(q), { headers: { Accept: 'application/json' } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body?.error ?? `HTTP ${res.status}`, body?.detail ?? '');
  const runs = Array.isArray(body) ? body : [];
  const total = Number(res.headers?.get?.('X-Total-Count'));
  return { runs, total: Number.isFinite(total) && res.headers?.get?.('X-Total-Count') != null ? total : runs.length };
}

// getRun loads a run's record; omit leaves out parts a view does not draw
// (['components', 'layers', 'routing']), which are most of a deep run.
export function getRun(id, fetchImpl, omit = []) {
  const q = omit.length ? '?omit=' + omit.join(',') : '';
  return getJSON('/api/profiling/run/' + encodeURIComponent(id) + q, fetchImpl);
}

// listMachines lists the machines with stored runs (a team server holds many).
export function listMachines(fetchImpl) {
  return getJSON('/api/profiling/machines', fetchImpl);
}

export function deleteRun(id, fetchImpl) {
  return send('DELETE', '/api/profiling/run/' + encodeURIComponent(id), undefined, fetchImpl);
}

export function cancelRun(id, fetchImpl) {
  return send('POST', '/api/profiling/run/' + encodeURIComponent(id) + '/cancel', undefined, fetchImpl);
}

export function exportURL(id, format, table = '') {
  return `/api/profiling/export/${encodeURIComponent(id)}?format=${format}` + (table ? `&table=${encodeURIComponent(table)}` : '');
}

// compareRuns compares 2-4 arms: a run id, "a+b" (runs as one group) or
// "group:ID" (every run of one repeat group). With by 'machine' the runs
// are pooled and grouped by the machine they ran on.
export function compareRuns(ids, fetchImpl, by = '') {
  return getJSON('/api/profiling/compare?ids=' + ids.map((id) => id.split('+').map(encodeURIComponent).join('%2B')).join(',') + (by ? '&by=' + encodeURIComponent(by) : ''), fetchImpl);
}

// Remote mode: a server reachable from other machines wants its token. The
// login page trades it once for an HttpOnly session cookie, which the
// browser then sends with every API call, WebSocket and event stream; page
// scripts never hold the token or the cookie.
export function authStatus(fetchImpl) {
  return getJSON('/api/auth', fetchImpl);
}

export function login(token, fetchImpl) {
  return send('POST', '/api/login', { token }, fetchImpl);
}

export function logout(fetchImpl) {
  return send('POST', '/api/logout', undefined, fetchImpl);
}
