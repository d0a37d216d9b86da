// Runs that are not our engine's, end to end against the real server: an
// OpenAI-style request to our own /v1 (a profiled engine run), the CLI
// profiling that /v1 as an inference server (a server run), and an energy
// window from the Python client; each in Analysis, History and Compare,
// with screenshots.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, newPage, repoRoot, runCLI, screenshot, startServer } from './harness.js';

const T = { timeout: 60000 };
let server, browser, page;
const errors = [];
const model = 'demo-110m-gqa';
let v1RunId = '';
let serverRunId = '';
let windowId = '';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser, errors);
  const models = await (await fetch(server.url + '/api/profiling/models')).json();
  if (!models.models.some((m) => m.name === model)) await runCLI(server, ['models', 'demo']);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// readSSE collects the data lines of a server-sent event stream.
async function readSSE(res) {
  const text = await res.text();
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
}

test('an OpenAI-style request to our /v1 is a profiled run', async () => {
  const res = await fetch(server.url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer unused-locally' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'What does a token cost?' }], max_tokens: 16, stream: true, stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 200);
  v1RunId = res.headers.get('x-energyprofiler-run-id');
  assert.ok(v1RunId, 'the run id comes back in a header');
  const lines = await readSSE(res);
  assert.equal(lines.at(-1), '[DONE]');
  const usage = JSON.parse(lines.at(-2));
  assert.equal(usage.energyprofiler.run_id, v1RunId);
  assert.ok(usage.usage.completion_tokens >= 1);

  await page.goto(`${server.url}/#/run/${v1RunId}`);
  await page.getByText('Export CSV').waitFor(T);
  await page.locator('.tag', { hasText: 'openai-api' }).waitFor(T);
  assert.match(await page.locator('.kind').first().textContent(), /Built-in engine/);
  await page.locator('#an-hm-0-0').waitFor(T); // an engine run keeps its layers
  await screenshot(page, 'external-v1-run-analysis');
  assert.deepEqual(errors, []);
});

test('the CLI profiles our /v1 as an inference server', async () => {
  const r = await runCLI(server, ['profile', '--endpoint', server.url + '/v1', '--model', model, '--chat', '--prompt', 'Energy per token', '--max-tokens', '12', '--tags', 'e2e-server']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /reported by the server \(usage\.completion_tokens\)/);
  const runs = await (await fetch(server.url + '/api/profiling/runs?kind=server')).json();
  assert.equal(runs.length, 1);
  serverRunId = runs[0].id;
  assert.equal(runs[0].kind, 'server');

  await page.goto(`${server.url}/#/run/${serverRunId}`);
  await page.getByRole('region', { name: 'inference server' }).waitFor(T);
  const panel = await page.getByRole('region', { name: 'inference server' }).textContent();
  assert.match(panel, /\/chat\/completions/);
  assert.match(panel, /reported by the server/);
  assert.match(await page.getByRole('note', { name: 'why there are no layer charts' }).textContent(), /unavailable \(external server\)/);
  assert.equal(await page.locator('#an-hm-0-0').count(), 0);
  await page.locator('.stream [data-index="0"]').hover();
  assert.match(await page.getByRole('tooltip').textContent(), /streamed chunk 0/);
  await screenshot(page, 'external-server-run-analysis');
  assert.deepEqual(errors, []);
});

test('a window from the Python client', async (t) => {
  const py = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = [
    'import time, energyprofiler',
    'with energyprofiler.window("fine-tune epoch 3", tags=["train"], note="lr 3e-4, batch 8", idle_s=0.3) as w:',
    '    end = time.time() + 1.5',
    '    while time.time() < end: sum(i * i for i in range(10000))',
    '    w.tokens_out = 4096',
    'print(w.id)',
  ].join('\n');
  const out = await new Promise((res) => {
    const p = spawn(py, ['-c', script], { env: { ...process.env, ENERGYPROFILER_URL: server.url, PYTHONPATH: join(repoRoot, 'clients', 'python'), PYTHONDONTWRITEBYTECODE: '1' } });
    let o = '';
    p.stdout.on('data', (d) => (o += d));
    p.stderr.on('data', (d) => (o += d));
    p.on('exit', (code) => res({ code, o }));
  });
  assert.equal(out.code, 0, out.o);
  windowId = out.o.trim().split('\n').at(-1);

  await page.goto(`${server.url}/#/run/${windowId}`);
  await page.getByRole('region', { name: 'energy window' }).waitFor(T);
  assert.match(await page.locator('.kind').first().textContent(), /Energy window/);
  assert.match(await page.getByRole('note', { name: 'why there are no layer charts' }).textContent(), /unavailable \(energy window\)/);
  assert.match(await page.locator('main').textContent(), /4096 out/);
  // (attached: a flat line has no height, which Playwright calls hidden)
  await page.locator('figure.power path[data-series]').first().waitFor({ state: 'attached', ...T });
  await screenshot(page, 'external-window-analysis');
  assert.deepEqual(errors, []);
});

test('Live: a server run from the target selector, against another server\'s /v1', async () => {
  // A second server answers OpenAI requests with the same models folder.
  const other = await startServer(['--models-dir', join(server.home, 'EnergyProfiler', 'models')]);
  try {
    await page.goto(server.url + '/#/live');
    await page.getByLabel('inference server').check();
    await page.getByLabel('server endpoint').selectOption('__url');
    await page.getByLabel('URL').fill(other.url + '/v1');
    await page.getByLabel('Server model').fill(model);
    await page.getByLabel('Prompt').fill('Energy per token');
    await page.getByLabel('Max tokens').fill('8');
    await page.getByRole('button', { name: 'Start profiling', exact: true }).click();
    await page.locator('.stream [data-index="0"]').waitFor(T);
    const open = page.getByRole('link', { name: 'open the analysis' });
    await open.waitFor(T);
    assert.match(await page.getByRole('note', { name: 'why there are no layer charts' }).textContent(), /external server/);
    await screenshot(page, 'external-live-server-target');
    const id = decodeURIComponent((await open.getAttribute('href')).replace(/^#\/(run|analysis)\//, ''));
    const rec = await (await fetch(`${server.url}/api/profiling/run/${id}`)).json();
    assert.equal(rec.run.kind, 'server');
    assert.equal(rec.run.external.endpoint, other.url + '/v1');
    assert.equal(rec.run.status, 'completed');
    assert.deepEqual(errors, []);
  } finally {
    await other.stop();
  }
});

test('History filters by kind; Compare puts a server run beside an engine run of the same model', async () => {
  await page.goto(`${server.url}/#/history`);
  await page.locator('tr[data-run]').first().waitFor(T);
  await page.getByLabel('Kind').selectOption('window');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-run]').length === 1 && !document.body.textContent.includes('loading…'));
  assert.match(await page.locator('tr[data-run]').first().textContent(), /Energy window/);
  await screenshot(page, 'external-history-kind');

  await page.goto(`${server.url}/#/compare?ids=${serverRunId},${v1RunId}`);
  await page.getByText('Welch', { exact: false }).first().waitFor(T).catch(() => {});
  await page.waitForTimeout(500);
  const text = await page.locator('main').textContent();
  assert.ok(text.includes(serverRunId.slice(0, 8)) && text.includes(v1RunId.slice(0, 8)), 'both runs are compared');
  await screenshot(page, 'external-compare');
  assert.deepEqual(errors, []);
});
