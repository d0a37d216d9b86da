// The dashboard's journeys against the real headless server with the demo
// models. Each journey is skipped, with the reason, when the server cannot
// do its part yet (no models, no run store): the skip message names what is
// missing so the gap stays visible.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, runCLI, screenshot, startServer } from './harness.js';
import * as flows from './flows.js';

let server, browser, page;
const errors = [];
let missing = '';
let demoModel = '';
let modelNames = [];
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser, errors);
  const get = async (p) => {
    const r = await fetch(server.url + p);
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  let models = (await get('/api/profiling/models')).body?.models ?? [];
  if (models.length === 0) {
    // Generate the demo models into this server's (temporary) models folder.
    const r = await runCLI(server, ['models', 'demo']);
    models = (await get('/api/profiling/models')).body?.models ?? [];
    if (models.length === 0) missing = `no models: GET /api/profiling/models is empty and \`energyprofiler models demo\` gave (exit ${r.code}): ${r.out.trim().split('\n').pop()}`;
  }
  modelNames = models.filter((m) => !m.error).map((m) => m.name);
  // The dense 110M demo (its runs span several power samples); else any usable model.
  demoModel = models.find((m) => m.name === 'demo-110m-gqa' && !m.error)?.name ?? models.find((m) => m.demo && !m.error)?.name ?? models.find((m) => !m.error)?.name ?? '';
  if (!missing && !demoModel) missing = 'no usable model in /api/profiling/models';
  if (!missing) {
    const q = await get('/api/profiling/queue');
    const runs = await get('/api/profiling/runs');
    if (q.status !== 200 || runs.status !== 200) missing = `queue or run list unavailable (${q.status}, ${runs.status})`;
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const skip = (t) => {
  if (missing) {
    t.skip(missing);
    return true;
  }
  return false;
};

let firstId = '';
let secondId = '';
test('real: start a run and watch tokens arrive', async (t) => {
  if (skip(t)) return;
  await page.goto(server.url + '/#/live');
  await page.getByLabel('Model').selectOption(demoModel);
  firstId = await flows.startRunAndWatch(page, server.url, { prefix: 'real', maxTokens: 12, prompt: 'The quick brown fox' });
  assert.ok(firstId);
  assert.deepEqual(errors, []);
});

test('real: a second run through the API', async (t) => {
  if (skip(t)) return;
  const r = await page.request.post(server.url + '/api/profiling/generate', {
    headers: { 'Content-Type': 'application/json', Origin: server.url },
    data: { model_name: demoModel, prompt: 'Once upon a time', profiling_depth: 'deep', tags: ['e2e', 'deep'], max_length: 8, wait: true },
    timeout: 120000,
  });
  assert.equal(r.status(), 200, await r.text());
  // The run list is the list itself, with the total in a header.
  const res = await page.request.get(server.url + '/api/profiling/runs');
  const runs = await res.json();
  assert.ok(Array.isArray(runs) && runs.length >= 2 && Number(res.headers()['x-total-count']) === runs.length);
  assert.match(runs[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/, 'local time without an offset');
  assert.match(runs[0].created_at_utc, /Z$/);
  secondId = runs.find((x) => x.id !== firstId)?.id;
  assert.ok(secondId);
});

test('real: a mixture-of-experts run shows its experts; compare it with the dense demo', async (t) => {
  if (skip(t)) return;
  if (!modelNames.includes('demo-100m-moe') || !modelNames.includes('demo-110m-gqa')) {
    t.skip('the demo-100m-moe and demo-110m-gqa demo models are not both in the models folder');
    return;
  }
  const run = async (model) => {
    const r = await page.request.post(server.url + '/api/profiling/generate', {
      headers: { 'Content-Type': 'application/json', Origin: server.url },
      data: { model_name: model, prompt: 'Energy per expert', profiling_depth: 'deep', tags: ['e2e', 'moe-vs-dense'], max_length: 16, wait: true },
      timeout: 180000,
    });
    assert.equal(r.status(), 200, await r.text());
    return (await r.json()).run_id;
  };
  const moeId = await run('demo-100m-moe');
  const denseId = await run('demo-110m-gqa');
  assert.ok(moeId && denseId);
  await flows.expertView(page, server.url, moeId, 'real');
  await flows.compareMoEDense(page, server.url, moeId, denseId, 'real');
  assert.deepEqual(errors, []);
});

test('real: open the analysis and switch metrics; drill into a cell; token slider', async (t) => {
  if (skip(t)) return;
  await flows.analysisSwitchMetrics(page, server.url, secondId || firstId, 'real');
  await flows.drillIntoCell(page, 'real');
  await flows.useTokenSlider(page, 'real');
  assert.deepEqual(errors, []);
});

test('real: search, filter and sort the history; compare two runs', async (t) => {
  if (skip(t)) return;
  await flows.historySearchFilterSort(page, server.url, 'real', { search: 'fox', model: demoModel, tag: 'deep' });
  await flows.compareTwo(page, server.url, 'real');
  assert.deepEqual(errors, []);
});

test('real: export and delete', async (t) => {
  if (skip(t)) return;
  await flows.exportAndDelete(page, server.url, firstId, 'real');
  assert.deepEqual(errors, []);
});

test('real: the Analysis tab opens the latest run; cost and CO₂ re-read at another grid and price', async (t) => {
  if (skip(t)) return;
  await flows.analysisTab(page, server.url, 'real');
  await flows.costAndCO2(page, 'real');
  assert.deepEqual(errors, []);
});

let group = null;
test('real: repeats from the Live view form a group that Compare tests', async (t) => {
  if (skip(t)) return;
  group = await flows.repeatFromLive(page, server.url, 'real', { repeat: 2, cooldown: 1, region: 'eu' });
  const rec = await (await page.request.get(`${server.url}/api/profiling/run/${group.run_ids[1]}`)).json();
  assert.equal(rec.run.settings.repeat_group, group.repeat_group);
  assert.equal(rec.summary.co2_preset, 'eu', 'the region chosen in Live is stored with the run');
  assert.ok(rec.run.host.conditions?.start, 'the run records the OS thermal/power state (or why not)');
  const text = await flows.compareGroups(page, server.url, 'real', group.run_ids[0], secondId);
  assert.match(text, /n=2/);
  assert.deepEqual(errors, []);
});

test('real: the throughput vs energy trade-off over the history', async (t) => {
  if (skip(t)) return;
  await flows.tradeoffView(page, server.url, 'real', { model: demoModel });
  assert.deepEqual(errors, []);
});

// The Live view's Compute choice (--backend in the CLI, "backend" in the
// API) reaches the run: CPU is stored with its device and shown in the
// Analysis header; Metal, off macOS, fails the run with the reason shown.
test('real: the Live view\'s compute backend reaches the run', async (t) => {
  if (skip(t)) return;
  const T = { timeout: 60000 };
  await page.goto(server.url + '/#/live');
  await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached', ...T });
  await page.getByLabel('Model').selectOption(demoModel);
  await page.getByLabel('Prompt').fill('Energy per token');
  await page.getByLabel('Max tokens').fill('4');
  await page.getByLabel('compute backend').selectOption('cpu');
  // This run's id, from the answer to Start (the previous run's link may
  // still be on the page).
  const start = async () => {
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/profiling/generate') && r.request().method() === 'POST', T);
    await page.getByRole('button', { name: 'Start' }).click();
    const res = await answer;
    assert.equal(res.status(), 202, await res.text());
    return (await res.json()).run_id;
  };
  const id = await start();
  await page.locator('.status', { hasText: id }).getByRole('link', { name: 'open the analysis' }).waitFor(T);
  assert.match(await page.locator('.status').textContent(), /done|completed/);
  const rec = await (await page.request.get(`${server.url}/api/profiling/run/${id}`)).json();
  assert.match(rec.run.settings.backend, /^cpu/, 'the CPU backend is stored with the run');
  assert.ok(rec.run.settings.device, 'and the device it ran on');
  assert.equal(rec.run.settings.backend_note ?? '', '', 'an explicit choice needs no reason');
  await page.goto(`${server.url}/#/run/${id}`);
  await page.getByText(rec.run.settings.backend, { exact: true }).waitFor(T);

  if (process.platform !== 'darwin') {
    await page.goto(server.url + '/#/live');
    await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached', ...T });
    await page.getByLabel('Model').selectOption(demoModel);
    await page.getByLabel('Max tokens').fill('4');
    await page.getByLabel('compute backend').selectOption('metal');
    const metalId = await start();
    const failed = page.locator('.status', { hasText: metalId }).filter({ hasText: 'failed' });
    await failed.waitFor(T);
    assert.match(await failed.textContent(), /Metal exists only on macOS/);
    await screenshot(page, 'real-live-backend-metal-refused');
  }
  assert.deepEqual(errors, []);
});
