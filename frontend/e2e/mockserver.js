// A stand-in for `energyprofiler serve` built from the unit-test fixtures:
// it serves the built dashboard, the REST API and the live WebSocket (a
// minimal RFC 6455 server, text frames only). It lets the dashboard's
// browser tests and screenshots run whatever state the Go backend is in;
// the tests against the real server live in the other files.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { comparison, health, makeRecord, models } from '../src/lib/fixtures/record.js';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

export async function startMockServer({ dist = resolve(import.meta.dirname, '..', 'dist', 'app'), runs = 3, noMeasured = true } = {}) {
  const records = new Map();
  const list = [];
  const mk = (i, opts) => {
    const id = `run-${String(i).padStart(4, '0')}`;
    const rec = makeRecord({ id, seed: i + 1, tokens: 6 + (i % 5), layers: 4, ...opts });
    rec.run.created_at = new Date(Date.UTC(2026, 10, 28, 12, 0, 0) - i * 3600e3).toISOString();
    rec.run.prompt = ['The quick brown fox', 'Energy per token matters', 'Once upon a time'][i % 3] + ` #${i}`;
    rec.run.tags = i % 2 ? ['batch'] : ['baseline'];
    if (i % 3 === 1) rec.run.model_name = rec.summary.model_name = 'demo-qwen2-tiny';
    // Spread the runs over the trade-off plane: backends, quantizations and
    // speeds differ.
    rec.run.settings.backend = i % 2 ? 'cpu-avx2 x2' : 'cpu-avx512 x2';
    rec.summary.architecture = { ...rec.summary.architecture, dtype: ['BF16', 'Q8_0', 'Q4_K'][i % 3] };
    const speed = 0.5 + ((i * 7) % 10) / 4;
    rec.summary.tokens_per_second = { ...rec.summary.tokens_per_second, value: rec.summary.tokens_per_second.value * speed };
    if (i === 2 || i === 3) rec.run.settings.repeat_group = 'grp-0002-aaaa';
    rec.run.host.conditions = { start: { hottest_c: 48 + i * 3, cpu_freq_ratio: 0.9, on_battery: i === 3 }, end: { hottest_c: 55 + i * 3, on_battery: i === 3 } };
    records.set(id, rec);
    list.push(rec);
  };
  for (let i = 0; i < runs; i++) mk(i, { depth: i === 0 ? 'deep' : 'module', source: i % 2 ? 'cpu-load' : 'rapl' });
  const sockets = new Set();
  let active = '';
  let seq = 1000;

  // The API's run list item: created_at is local time without an offset,
  // created_at_utc the instant.
  const item = (r) => ({
    id: r.run.id, created_at: r.run.created_at.replace(/Z$/, ''), created_at_utc: r.run.created_at, model_name: r.run.model_name, prompt: r.run.prompt,
    duration_s: r.summary.duration_s.value, total_energy_j: r.summary.total_energy_j.value,
    joules_per_token: r.summary.joules_per_token.value, tokens_per_second: r.summary.tokens_per_second.value,
    tokens_per_joule: r.summary.tokens_per_joule.value, edp_per_token_js: r.summary.joules_per_token.value / r.summary.tokens_per_second.value,
    input_tokens: r.summary.input_tokens, output_tokens: r.summary.output_tokens,
    energy_label: r.summary.total_energy_j.label, tags: r.run.tags, status: r.run.status,
    depth: r.run.settings.depth, backend: r.run.settings.backend ?? '', dtype: r.summary.architecture?.dtype ?? '', repeat_group: r.run.settings.repeat_group ?? '',
  });
  const sortKey = { created_at: (r) => r.run.created_at, duration: (r) => r.summary.duration_s.value, energy: (r) => r.summary.total_energy_j.value, joules_per_token: (r) => r.summary.joules_per_token.value, tokens_per_second: (r) => r.summary.tokens_per_second.value };

  function broadcast(msg) {
    const data = Buffer.from(JSON.stringify(msg));
    const n = data.length;
    const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 127, 0, 0, 0, 0]), Buffer.from([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])]);
    for (const s of sockets) s.write(Buffer.concat([head, data]));
  }

  function simulate(id, req) {
    active = id;
    const ev = (type, data) => broadcast({ run_id: id, type, data });
    const comps = ['input_layernorm', 'q_proj', 'k_proj', 'v_proj', 'rope', 'attention', 'o_proj', 'post_attention_layernorm', 'gate_proj', 'up_proj', 'activation', 'down_proj'];
    ev('queue', { active: id, queued: 0 });
    ev('run', { model_name: req.model_name, prompt: req.prompt, depth: req.profiling_depth, max_tokens: req.max_length, sources: [{ name: 'cpu-load', kind: 'estimated', domains: ['cpu'] }] });
    ev('started');
    ev('phase', { phase: 'prefill', t_ms: 1 });
    let t = 0;
    let tok = 0;
    const words = [' energy', ' flows', ' through', ' every', ' layer', ' and', ' token', '.'];
    const timer = setInterval(() => {
      t += 50;
      ev('power', { t_ms: t, source: 'cpu-load', kind: 'estimated', domains: { cpu: { power_w: 8 + 3 * Math.sin(t / 300) } }, total_w: 8 + 3 * Math.sin(t / 300) });
      ev('op', { phase: tok ? 'decode' : 'prefill', section: 'layers', layer: (t / 50) % 4, component: comps[(t / 50) % 12] });
      if (t % 150 === 0) {
        if (tok === 1) ev('phase', { phase: 'decode', t_ms: t });
        const e = tok === 3 ? null : 0.02 + 0.01 * Math.sin(tok);
        ev('token', { index: tok, token_id: 100 + tok, piece: words[tok % words.length], duration_ms: 40 + tok, energy_j: e, energy_label: e == null ? 'unavailable' : 'estimated cpu-load', power_w: e == null ? null : 9 });
        ev('heatmap', { token_index: tok, layers: 4, components: comps, energy_j: [0, 1, 2, 3].map((l) => comps.map((c, j) => (e == null ? null : 1e-4 * (1 + l + j + tok)))), time_ms: [0, 1, 2, 3].map((l) => comps.map((c, j) => 0.1 * (1 + j))), label: 'estimated cpu-load' });
        tok++;
      }
      if (tok >= (req.max_length ?? 8) || active !== id) {
        clearInterval(timer);
        const cancelled = active !== id;
        const rec = makeRecord({ id, seed: seq, tokens: Math.max(2, tok), layers: 4, depth: req.profiling_depth, source: 'cpu-load' });
        rec.run.prompt = req.prompt;
        rec.run.model_name = req.model_name;
        rec.run.tags = req.tags ?? [];
        rec.run.created_at = new Date().toISOString();
        if (cancelled) rec.run.status = 'cancelled';
        records.set(id, rec);
        list.unshift(rec);
        active = '';
        ev('finished', { state: cancelled ? 'cancelled' : 'done', summary: rec.summary });
        broadcast({ run_id: '', type: 'queue', data: { active: '', queued: 0 } });
      }
    }, 50);
  }

  function json(res, status, body) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    let m;
    if (p === '/api/health') {
      const h = structuredClone(health);
      if (!noMeasured) h.power_sources[0].available = true;
      return json(res, 200, h);
    }
    if (p === '/api/profiling/models') return json(res, 200, models);
    if (p === '/api/profiling/queue') return json(res, 200, { active, queued: 0 });
    if (p === '/api/profiling/generate' && req.method === 'POST') {
      let body = '';
      for await (const c of req) body += c;
      const r = JSON.parse(body);
      const id = `run-live-${seq++}`;
      setTimeout(() => simulate(id, r), 100);
      return json(res, 202, { run_id: id, status: 'queued', position: 0, run_ids: [id] });
    }
    if (p === '/api/profiling/runs') {
      const q = url.searchParams;
      let rs = list.filter((r) => (!q.get('search') || r.run.prompt.toLowerCase().includes(q.get('search').toLowerCase())) && (!q.get('model') || r.run.model_name === q.get('model')) && q.getAll('tag').every((t) => r.run.tags.includes(t)));
      const key = sortKey[q.get('sort') || 'created_at'];
      const dir = q.get('order') === 'asc' ? 1 : -1;
      rs = rs.slice().sort((a, b) => ((key(a) ?? -Infinity) > (key(b) ?? -Infinity) ? dir : -dir));
      const off = Number(q.get('offset') || 0);
      const lim = Number(q.get('limit') || 50);
      res.setHeader('X-Total-Count', String(rs.length));
      return json(res, 200, rs.slice(off, off + lim).map(item));
    }
    if ((m = /^\/api\/profiling\/run\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      const rec = records.get(id);
      if (req.method === 'DELETE') {
        if (!rec) return json(res, 404, { error: 'not found', detail: id });
        records.delete(id);
        list.splice(list.indexOf(rec), 1);
        return json(res, 204);
      }
      return rec ? json(res, 200, rec) : json(res, 404, { error: 'run not found', detail: `no run "${id}"` });
    }
    if ((m = /^\/api\/profiling\/run\/([^/]+)\/cancel$/.exec(p))) {
      if (active !== m[1]) return json(res, 409, { error: 'run not active' });
      active = '';
      return json(res, 202, { run_id: m[1], status: 'cancelling' });
    }
    if ((m = /^\/api\/profiling\/export\/([^/]+)$/.exec(p))) {
      const rec = records.get(decodeURIComponent(m[1]));
      if (!rec) return json(res, 404, { error: 'not found' });
      const f = url.searchParams.get('format');
      res.writeHead(200, { 'Content-Type': f === 'csv' ? 'text/csv' : 'application/json', 'Content-Disposition': `attachment; filename="${rec.run.id}.${f === 'csv' ? 'csv' : 'json'}"` });
      return res.end(f === 'csv' ? 'index,piece\n' + rec.tokens.map((t) => `${t.index},${JSON.stringify(t.piece)}`).join('\n') : JSON.stringify(f === 'perfetto' ? { traceEvents: [] } : rec));
    }
    if (p === '/api/profiling/compare') {
      const ids = (url.searchParams.get('ids') || '').split(',');
      const c = structuredClone(comparison);
      // A repeat group stands for its runs; its conditions differ from a
      // single run's (one of its runs was on battery), so Compare warns.
      const members = (id) => (id.startsWith('group:') ? list.filter((r) => r.run.settings.repeat_group === id.slice(6)).map((r) => r.run.id) : id.split('+'));
      c.groups = ids.map((id, i) => ({ ...structuredClone(comparison.groups[i % 2]), label: id.startsWith('group:') ? `demo-llama-tiny ×${members(id).length} (group ${id.slice(6, 14)})` : id, run_ids: members(id) }));
      c.tests = c.tests.map((t) => ({ ...t, a: c.groups[0].label, b: c.groups[1].label }));
      c.warnings = ids.some((id) => id.startsWith('group:'))
        ? [`${c.groups[0].label} ran partly on battery, ${c.groups[1].label} on mains: power management differs, so energy and speed may differ for that reason alone`, `${c.groups[0].label} started at 55 °C, ${c.groups[1].label} at 45 °C (hottest zone, mean): let the machine cool between runs (cooldown) for a fair comparison`]
        : [];
      return json(res, 200, c);
    }
    if (p.startsWith('/api/')) return json(res, 404, { error: 'not found' });
    const file = join(dist, p === '/' ? 'index.html' : p);
    if (!file.startsWith(dist) || !existsSync(file)) return json(res, 404, { error: 'not found' });
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  server.on('upgrade', (req, socket) => {
    if (!req.url.startsWith('/api/profiling/live')) return socket.destroy();
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
    socket.on('data', (b) => {
      if ((b[0] & 0x0f) === 8) socket.end(); // close frame
    });
    const data = Buffer.from(JSON.stringify({ run_id: active, type: 'queue', data: { active, queued: 0 } }));
    socket.write(Buffer.concat([Buffer.from([0x81, data.length]), data]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    broadcast,
    records,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

if (process.argv[1] === import.meta.filename) {
  const s = await startMockServer({ runs: Number(process.env.RUNS ?? 12) });
  console.log(`mock dashboard: ${s.url}/`);
}
