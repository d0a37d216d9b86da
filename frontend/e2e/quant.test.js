// The quantized demos out of the box: a server started on an empty models
// folder writes demo-110m-gqa's Q8_0 and Q4_K_M GGUF twins, and Compare puts
// a quantized run beside its BF16 original, with the weight format of each.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, screenshot, startServer } from './harness.js';

let server, browser, page;
const errors = [];
before(async () => {
  server = await startServer(['--quantized-demos=true', '--power', 'cpu-load']);
  browser = await launchBrowser();
  page = await newPage(browser, errors);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const T = { timeout: 30000 };

test('quantized demos: listed out of the box, run, and compared with the BF16 original', async () => {
  const models = (await (await fetch(server.url + '/api/profiling/models')).json()).models;
  const byName = Object.fromEntries(models.map((m) => [m.name, m]));
  for (const name of ['demo-110m-gqa', 'demo-110m-gqa-q8_0.gguf', 'demo-110m-gqa-q4_k_m.gguf']) {
    assert.ok(byName[name], `${name} is in the models list: ${Object.keys(byName).join(', ')}`);
    assert.ok(!byName[name].error, `${name}: ${byName[name].error}`);
  }
  const run = async (model) => {
    const r = await page.request.post(server.url + '/api/profiling/generate', {
      headers: { 'Content-Type': 'application/json', Origin: server.url },
      data: { model_name: model, prompt: 'What quantization does to energy', profiling_depth: 'module', tags: ['e2e', 'quant-vs-bf16'], max_length: 24, wait: true },
      timeout: 180000,
    });
    assert.equal(r.status(), 200, await r.text());
    return (await r.json()).run_id;
  };
  const quantId = await run('demo-110m-gqa-q4_k_m.gguf');
  const bf16Id = await run('demo-110m-gqa');

  // The stored runs say what their weights were.
  const detail = async (id) => (await (await fetch(`${server.url}/api/profiling/run/${id}`)).json());
  const q = await detail(quantId);
  const b = await detail(bf16Id);
  assert.match(JSON.stringify(q), /Q4_K/, 'the quantized run records its quantization');
  assert.match(JSON.stringify(b), /bf16|BF16/, 'the BF16 run records its dtype');

  await page.goto(`${server.url}/#/compare?ids=${encodeURIComponent(quantId)},${encodeURIComponent(bf16Id)}`);
  await page.getByRole('heading', { name: 'Statistics' }).waitFor(T);
  const legend = await page.locator('.legend').textContent();
  assert.match(legend, /demo-110m-gqa-q4_k_m/);
  assert.match(legend, /demo-110m-gqa(?!-q)/);
  assert.match(legend, /Q4_K/, 'the legend names the quantized weight format');
  assert.match(legend, /bf16/i, 'the legend names the BF16 weight format');
  const table = await page.locator('table.stats').first().textContent();
  assert.match(table, /per token/i);
  await screenshot(page, 'quant-compare-q4_k_m-bf16');
  assert.deepEqual(errors, []);
});
