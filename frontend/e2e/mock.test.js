// The dashboard against the fixture server (mockserver.js): every view and
// journey, with screenshots, independent of the Go backend's progress.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, screenshot } from './harness.js';
import { startMockServer } from './mockserver.js';
import * as flows from './flows.js';

let server, browser, page;
const errors = [];
before(async () => {
  server = await startMockServer({ runs: 12 });
  browser = await launchBrowser();
  page = await newPage(browser, errors);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

let liveId;
test('mock: start a run and watch tokens arrive', async () => {
  liveId = await flows.startRunAndWatch(page, server.url, { prefix: 'mock', maxTokens: 8 });
  assert.match(await page.locator('[role=status]').first().textContent(), /No measured power source/);
  assert.deepEqual(errors, []);
});

test('mock: analysis, metrics, drill-down and slider', async () => {
  await flows.analysisSwitchMetrics(page, server.url, 'run-0000', 'mock');
  await flows.drillIntoCell(page, 'mock');
  assert.match(await page.getByLabel('cell details').textContent(), /attention entropy/);
  await flows.useTokenSlider(page, 'mock');
  await page.locator('figure:has-text("Energy flow")').scrollIntoViewIfNeeded();
  await screenshot(page, 'mock-sankey');
  assert.deepEqual(errors, []);
});

test('mock: history search, filter, sort; compare', async () => {
  await flows.historySearchFilterSort(page, server.url, 'mock', { search: 'fox', model: 'demo-qwen2-tiny', tag: 'batch' });
  await flows.compareTwo(page, server.url, 'mock');
  assert.deepEqual(errors, []);
});

test('mock: the Analysis tab, cost and CO₂, uncertainty only where it informs', async () => {
  await flows.analysisTab(page, server.url, 'mock');
  await flows.costAndCO2(page, 'mock');
  // A component call is apportioned by time share: no ± unless the bound is tight.
  await page.goto(server.url + '/#/analysis/run-0000');
  await page.getByText('Export CSV').waitFor();
  await page.locator('rect[data-layer="0"][data-component="q_proj"]').click();
  const panel = await page.getByLabel('cell details').textContent();
  assert.match(panel, /apportioned by time share/);
  await page.getByLabel('cell details').scrollIntoViewIfNeeded();
  await screenshot(page, 'mock-uncertainty');
  assert.deepEqual(errors, []);
});

test('mock: the trade-off view', async () => {
  await flows.tradeoffView(page, server.url, 'mock', { model: 'demo-qwen2-tiny' });
  assert.deepEqual(errors, []);
});

test('mock: Compare warns when a repeat group ran under other conditions', async () => {
  const text = await flows.compareGroups(page, server.url, 'mock', 'run-0002', 'run-0000');
  assert.match(text, /measured under different conditions/);
  assert.match(text, /partly on battery/);
  await page.getByRole('alert').scrollIntoViewIfNeeded();
  await screenshot(page, 'mock-compare-warning');
  assert.deepEqual(errors, []);
});

test('mock: export and delete', async () => {
  await flows.exportAndDelete(page, server.url, liveId, 'mock');
  assert.deepEqual(errors, []);
});

test('mock: a missing run and the machine panel', async () => {
  await page.goto(server.url + '/#/run/no-such-run');
  await page.getByText('There is no such run').waitFor();
  await page.goto(server.url + '/#/machine');
  await page.getByRole('heading', { name: 'This machine' }).waitFor();
  await screenshot(page, 'mock-machine');
  // Dark theme follows the system.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(server.url + '/#/run/run-0001');
  await page.getByText('Export CSV').waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(bg, 'rgb(18, 21, 28)');
  await screenshot(page, 'mock-dark-analysis');
  await page.emulateMedia({ colorScheme: 'light' });
  // The desktop window's minimum width.
  await page.setViewportSize({ width: 800, height: 600 });
  await page.goto(server.url + '/#/live');
  await page.getByRole('heading', { name: 'New run' }).waitFor();
  await screenshot(page, 'mock-narrow-live');
  await page.goto(server.url + '/#/run/run-0000');
  await page.getByText('Export CSV').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await screenshot(page, 'mock-narrow-analysis');
  await page.setViewportSize({ width: 1400, height: 900 });
  assert.ok(overflow <= 0, `no horizontal scrolling at 800 px (${overflow} px too wide)`);
  assert.deepEqual(errors, []);
});

test('mock: 10k live power samples keep drawing fast', async () => {
  // Frames per second over 2 s, measured in the page.
  const fps = () =>
    page.evaluate(async () => {
      let frames = 0;
      const t0 = performance.now();
      await new Promise((r) => {
        const f = () => (++frames, performance.now() - t0 < 2000 ? requestAnimationFrame(f) : r());
        requestAnimationFrame(f);
      });
      return (frames * 1000) / (performance.now() - t0);
    });
  await page.goto(server.url + '/#/live');
  await page.locator('.dot.on').waitFor();
  const id = 'run-stress';
  let j = 0;
  const sample = () => {
    const w = 10 + 5 * Math.sin(j / 100);
    server.broadcast({ run_id: id, type: 'power', data: { t_ms: j * 10, source: 'rapl', kind: 'measured_counter', domains: { cpu: { power_w: w }, dram: { power_w: 2 } }, total_w: w + 2 } });
    j++;
  };
  while (j < 10000) {
    for (let k = 0; k < 500; k++) sample();
    await page.waitForTimeout(20);
  }
  await page.waitForFunction(() => document.querySelector('figure.power path[data-series="cpu"]'));
  // A baseline with the same page idle, then with samples still arriving at 100 Hz.
  const idle = await fps();
  const timer = setInterval(sample, 10);
  const busy = await fps();
  clearInterval(timer);
  const d = await page.locator('figure.power path[data-series="cpu"]').getAttribute('d');
  const drawn = d.split(/[ML]/).length - 1;
  await screenshot(page, 'mock-live-10k');
  console.log(`# ${j} samples: ${busy.toFixed(1)} fps while streaming at 100 Hz (page idle: ${idle.toFixed(1)} fps); cpu line drawn with ${drawn} points`);
  assert.ok(drawn < 1500, `down-sampled (${drawn} points)`);
  assert.ok(busy >= 0.5 * idle, `streaming keeps most of the frame rate (${busy.toFixed(1)} vs ${idle.toFixed(1)} fps)`);
  assert.deepEqual(errors, []);
});

test('mock: keyboard only — open a run, expand a phase, drill into a cell, zoom the treemap', async () => {
  await page.goto(server.url + '/#/history');
  const link = page.locator('table.runs tbody a').first();
  await link.focus();
  await page.keyboard.press('Enter');
  await page.getByText('Export CSV').waitFor();
  await page.locator('button.bar', { hasText: 'prefill' }).focus();
  await page.keyboard.press('Enter');
  await page.locator('[aria-label="prefill sections"]').waitFor();
  await page.getByRole('grid').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'layer 1 · k_proj' }).waitFor();
  const tile = page.locator('g.hit').first();
  await tile.focus();
  await page.keyboard.press('Enter');
  assert.ok((await page.locator('nav.crumbs button').count()) >= 2, 'Enter zooms the treemap');
  // Hovering is not needed for token details: focus shows the card.
  await page.locator('.stream [data-index="1"]').focus();
  await page.getByRole('tooltip').waitFor();
  await screenshot(page, 'mock-keyboard');
  assert.deepEqual(errors, []);
});

test('mock: cancel a running run', async () => {
  await page.goto(server.url + '/#/live');
  await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached' });
  await page.getByLabel('Max tokens').fill('200');
  await page.getByRole('button', { name: 'Start profiling', exact: true }).click();
  await page.locator('.stream [data-index="1"]').waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.st-cancelled').waitFor();
  assert.match(await page.locator('.status').textContent(), /cancelled/);
  assert.deepEqual(errors, []);
});
