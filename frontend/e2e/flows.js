// The dashboard's user journeys, shared by the tests against the real
// server (dashboard.test.js) and against the fixture server (mock.test.js).
// Each step asserts what the user would see and takes a screenshot.
import assert from 'node:assert/strict';
import { screenshot } from './harness.js';

const T = { timeout: 60000 };

// startRunAndWatch starts a run from the Live view and waits for tokens to
// stream in and the run to finish. Returns the run id.
export async function startRunAndWatch(page, base, { prefix, maxTokens = 8, prompt = 'Energy per token' }) {
  await page.goto(base + '/#/live');
  const model = page.getByLabel('Model');
  await model.locator('option').first().waitFor({ state: 'attached', ...T });
  await page.getByLabel('Prompt').fill(prompt);
  await page.getByLabel('Max tokens').fill(String(maxTokens));
  await page.getByLabel('Tags').fill('e2e');
  await page.getByRole('button', { name: 'Start profiling', exact: true }).click();
  // Tokens arrive one by one over the WebSocket.
  await page.locator('.stream [data-index="1"]').waitFor(T);
  const firstCount = await page.locator('.stream [data-index]').count();
  assert.ok(firstCount >= 2, 'tokens are streaming');
  await screenshot(page, `${prefix}-live-running`);
  const open = page.getByRole('link', { name: 'open the analysis' });
  await open.waitFor(T);
  const n = await page.locator('.stream [data-index]').count();
  assert.ok(n >= firstCount, 'tokens kept arriving');
  // The power chart has at least one line, and the heatmap has cells.
  assert.ok((await page.locator('figure.power path[data-series]').count()) >= 1, 'power is drawn');
  assert.ok((await page.locator('#live-hm-0-0').count()) === 1, 'live heatmap is drawn');
  await page.locator('.stream [data-index="0"]').hover();
  await page.getByRole('tooltip').waitFor();
  assert.match(await page.getByRole('tooltip').textContent(), /energy: /);
  await screenshot(page, `${prefix}-live-done`);
  const href = await open.getAttribute('href');
  return decodeURIComponent(href.replace('#/run/', ''));
}

export async function analysisSwitchMetrics(page, base, id, prefix) {
  await page.goto(`${base}/#/run/${encodeURIComponent(id)}`);
  await page.getByText('Export CSV').waitFor(T);
  const select = page.getByRole('combobox', { name: 'metric' });
  const cell = page.locator('#an-hm-0-0');
  const before = await cell.getAttribute('aria-label');
  assert.match(before, /layer 0, input_layernorm: .*s/);
  const enabled = await select.locator('option:not([disabled])').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(enabled.includes('time') && enabled.includes('act_max'), `metrics enabled: ${enabled}`);
  await select.selectOption('act_max');
  const after = await cell.getAttribute('aria-label');
  assert.notEqual(after, before, 'the heatmap follows the metric');
  await screenshot(page, `${prefix}-analysis`);
  if (enabled.includes('energy')) {
    await select.selectOption('energy');
    assert.match(await cell.getAttribute('aria-label'), /J$|unavailable$/);
  }
  // The pipeline expands a phase into sections.
  await page.locator('button.bar', { hasText: 'decode' }).click();
  await page.locator('[aria-label="decode sections"]').waitFor();
  await screenshot(page, `${prefix}-analysis-metric`);
}

export async function drillIntoCell(page, prefix) {
  await page.locator('rect[data-layer="0"][data-component="attention"]').click();
  await page.getByRole('heading', { name: 'layer 0 · attention' }).waitFor();
  const panel = await page.getByLabel('cell details').textContent();
  assert.match(panel, /calls\s*\d+/);
  assert.match(panel, /Deep-op metrics/);
  await page.getByLabel('cell details').scrollIntoViewIfNeeded();
  await screenshot(page, `${prefix}-drill`);
}

export async function useTokenSlider(page, prefix) {
  const slider = page.getByRole('slider');
  await slider.focus();
  await page.keyboard.press('ArrowRight'); // all → first token
  await page.keyboard.press('ArrowRight');
  const pos = page.locator('.slider .pos');
  assert.match(await pos.textContent(), /token \d+ \/ \d+/);
  const caption = await page.locator('figure:has(#an-hm-0-0) figcaption').textContent();
  assert.match(caption, /token \d+/, 'the heatmap follows the slider');
  const cellBefore = await page.locator('#an-hm-0-0').getAttribute('aria-label');
  await page.getByRole('button', { name: 'play through tokens' }).click();
  await page.getByRole('button', { name: 'pause' }).waitFor();
  await page.waitForTimeout(900);
  // Short runs may reach the last token and stop on their own.
  const pause = page.getByRole('button', { name: 'pause' });
  if (await pause.count()) await pause.click();
  const after = await pos.textContent();
  assert.match(after, /token \d+/);
  assert.ok((await page.locator('#an-hm-0-0').getAttribute('aria-label')) !== null);
  void cellBefore;
  await page.locator('.slider').scrollIntoViewIfNeeded();
  await screenshot(page, `${prefix}-slider`);
  // Treemap zoom: click the first phase tile, then the breadcrumb back.
  const tile = page.locator('g.hit').first();
  await tile.scrollIntoViewIfNeeded();
  const label = await tile.getAttribute('aria-label');
  if (/zoom in/.test(label)) {
    await tile.click();
    assert.ok((await page.locator('nav.crumbs button').count()) >= 2, 'zoomed into the treemap');
  }
  await screenshot(page, `${prefix}-treemap`);
}

export async function historySearchFilterSort(page, base, prefix, { search, model, tag }) {
  await page.goto(base + '/#/history');
  await page.locator('table.runs tbody tr').first().waitFor(T);
  const all = await page.locator('table.runs tbody tr').count();
  assert.ok(all >= 2, `history lists runs (${all})`);
  await screenshot(page, `${prefix}-history`);
  // Sort by energy, then flip the order.
  await page.getByRole('button', { name: /^Energy/ }).click();
  await page.waitForFunction(() => document.querySelector('th[aria-sort]')?.textContent.includes('Energy'));
  await page.getByRole('button', { name: /^Energy/ }).click();
  await page.waitForFunction(() => document.querySelector('th[aria-sort="ascending"]'));
  // Search narrows the list.
  await page.getByLabel('Search prompts').fill(search);
  await page.waitForFunction((s) => [...document.querySelectorAll('table.runs tbody tr')].every((tr) => tr.textContent.toLowerCase().includes(s.toLowerCase())) || document.querySelector('.empty'), search);
  const found = await page.locator('table.runs tbody tr').count();
  assert.ok(found >= 1 && found <= all, `search found ${found} of ${all}`);
  await page.getByLabel('Search prompts').fill('zzz-no-such-prompt');
  await page.getByText('No run matches these filters.').waitFor(T);
  await page.getByLabel('Search prompts').fill('');
  if (model) {
    await page.getByLabel('Model').selectOption(model);
    await page.waitForFunction((m) => {
      const rows = [...document.querySelectorAll('table.runs tbody tr')];
      return rows.length > 0 && rows.every((tr) => tr.children[2].textContent === m);
    }, model);
  }
  if (tag) {
    await page.getByLabel('Tags').fill(tag);
    await page.waitForFunction((t) => {
      const rows = [...document.querySelectorAll('table.runs tbody tr')];
      return rows.length > 0 && rows.every((tr) => [...tr.querySelectorAll('.tag')].some((x) => x.textContent === t));
    }, tag);
  }
  await screenshot(page, `${prefix}-history-filtered`);
  await page.getByLabel('Tags').fill('');
  await page.getByLabel('Model').selectOption('');
  await page.locator('table.runs tbody tr').nth(1).waitFor(T);
}

export async function compareTwo(page, base, prefix) {
  await page.goto(base + '/#/history');
  await page.locator('table.runs tbody tr').nth(1).waitFor(T);
  const boxes = page.locator('table.runs tbody input[type=checkbox]');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole('link', { name: 'Compare selected (2–4)' }).click();
  await page.getByRole('heading', { name: 'Statistics' }).waitFor(T);
  assert.match(page.url(), /#\/compare\?ids=.+,.+/);
  const rows = await page.locator('table.stats tbody tr').count();
  assert.ok(rows >= 2, 'the statistics table has rows');
  assert.match(await page.locator('main').textContent(), /Welch/);
  await screenshot(page, `${prefix}-compare`);
}

export async function exportAndDelete(page, base, id, prefix) {
  await page.goto(`${base}/#/run/${encodeURIComponent(id)}`);
  await page.getByText('Export CSV').waitFor(T);
  for (const [name, type] of [['Export JSON', /json/], ['Export CSV', /csv|zip/], ['Export Perfetto', /json/]]) {
    const href = await page.getByText(name).getAttribute('href');
    const res = await page.request.get(base + href);
    assert.equal(res.status(), 200, `${name} downloads`);
    assert.match(res.headers()['content-type'], type);
    assert.match(res.headers()['content-disposition'] ?? '', /attachment/);
  }
  const dl = page.waitForEvent('download');
  await page.getByText('Export CSV').click();
  const file = await dl;
  assert.match(file.suggestedFilename(), /\.(csv|zip)$/);
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByRole('alertdialog').waitFor();
  await screenshot(page, `${prefix}-delete-confirm`);
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  await page.waitForURL(/#\/history/, T);
  await page.locator('table.runs tbody tr, .empty').first().waitFor(T);
  assert.equal(await page.locator(`tr[data-run="${id}"]`).count(), 0, 'the deleted run is gone');
  const res = await page.request.get(`${base}/api/profiling/run/${encodeURIComponent(id)}`);
  assert.equal(res.status(), 404);
  await screenshot(page, `${prefix}-after-delete`);
}

// expertView opens a mixture-of-experts run: the model facts line, the
// layer × expert heatmap in each metric, one token through the slider, the
// load spread, and the MoE split of the Sankey.
export async function expertView(page, base, id, prefix) {
  await page.goto(`${base}/#/run/${encodeURIComponent(id)}`);
  await page.locator('#experts-title').waitFor(T);
  assert.match(await page.locator('.model-facts').textContent(), /^MoE · 8 experts, top-2 · \d+M of \d+M active$/);
  const cells = page.locator('rect[id^="ex-hm-"]');
  assert.ok((await cells.count()) >= 8, 'one cell per layer and expert');
  await page.getByLabel('expert metric').selectOption('share');
  await page.waitForFunction(() => /routing share/.test(document.querySelector('#experts-title').textContent));
  const labels = await cells.evaluateAll((rs) => rs.map((r) => r.getAttribute('aria-label')));
  assert.ok(labels.some((l) => /% ?$|\d %/.test(l)), `routing shares drawn: ${labels[0]}`);
  assert.ok((await page.locator('table.spread tbody tr').count()) >= 1, 'a load-spread row per MoE layer');
  const flow = await page.locator('figure', { hasText: 'Energy flow' }).textContent();
  assert.match(flow, /router, experts and shared expert|MLP · router/);
  await page.locator('#experts-title').scrollIntoViewIfNeeded();
  await screenshot(page, `${prefix}-experts`);
  // One token: the token slider drives the expert view too.
  const slider = page.getByRole('slider').first();
  await slider.focus();
  await page.keyboard.press('End');
  await page.waitForFunction(() => /token \d+/.test(document.querySelector('#experts-title').textContent));
  await page.getByLabel('expert metric').selectOption('energy');
  await page.locator('#experts-title').scrollIntoViewIfNeeded();
  await screenshot(page, `${prefix}-experts-token`);
}

// compareMoEDense compares the MoE demo run with the dense one: both model
// facts lines and the energy per (active) million parameters rows.
export async function compareMoEDense(page, base, moeId, denseId, prefix) {
  await page.goto(`${base}/#/compare?ids=${encodeURIComponent(moeId)},${encodeURIComponent(denseId)}`);
  await page.getByRole('heading', { name: 'Statistics' }).waitFor(T);
  const legend = await page.locator('.legend').textContent();
  assert.match(legend, /MoE · 8 experts, top-2 · \d+M of \d+M active/);
  assert.match(legend, /Dense · \d+M params/);
  const table = await page.locator('table.stats').first().textContent();
  assert.match(table, /Energy per active M params/);
  assert.match(table, /Energy per M params/);
  await screenshot(page, `${prefix}-compare-moe-dense`);
}

// analysisTab opens the Analysis tab from the navigation: it shows the
// latest finished run with a picker of the others, and picking one opens it.
export async function analysisTab(page, base, prefix) {
  await page.goto(base + '/#/live');
  await page.getByRole('link', { name: 'Analysis', exact: true }).click();
  const picker = page.getByLabel('run to analyse');
  await picker.waitFor(T);
  await page.getByText('Export CSV').waitFor(T);
  assert.equal(await page.locator('nav a[aria-current="page"]').textContent(), 'Analysis');
  const first = await picker.inputValue();
  assert.ok(first, 'the latest run is picked');
  assert.match(await page.locator('main').textContent(), /the latest finished run/);
  await screenshot(page, `${prefix}-analysis-tab`);
  const values = await picker.locator('option').evaluateAll((os) => os.map((o) => o.value));
  const other = values.find((v) => v !== first);
  if (other) {
    await picker.selectOption(other);
    await page.waitForURL(new RegExp(`#/analysis/${other}`), T);
    await page.getByText('Export CSV').waitFor(T);
    assert.equal(await page.getByLabel('run to analyse').inputValue(), other);
  }
  return first;
}

// costAndCO2 re-reads a run's cost and CO₂ at another grid and price: per
// run and per million output tokens, in readable units.
export async function costAndCO2(page, prefix) {
  const money = page.getByLabel('cost and CO₂');
  await money.scrollIntoViewIfNeeded();
  const before = await money.textContent();
  assert.match(before, /per (run|million runs)/);
  await page.getByLabel('grid region preset').selectOption('california');
  await page.waitForFunction(() => document.querySelector('[aria-label="cost and CO₂"]').textContent.includes('California grid 200 g/kWh'));
  await page.getByLabel('electricity price in USD per kWh').fill('0.3');
  await page.getByLabel('electricity price in USD per kWh').dispatchEvent('change');
  const after = await money.textContent();
  assert.match(after, /× \$0\.3\/kWh/);
  assert.doesNotMatch(after, /\de-\d/, 'no scientific notation in cost or CO₂');
  assert.match(after, /(µg|mg| g| kg)\b/);
  await page.locator('section:has(.cards)').first().scrollIntoViewIfNeeded();
  await screenshot(page, `${prefix}-cost-co2`);
  await page.getByText("back to the run's settings").click();
}

// tradeoffView draws the runs on the throughput/energy plane, lists the
// Pareto frontier, follows the History filters, and a click opens a run.
export async function tradeoffView(page, base, prefix, { model } = {}) {
  await page.goto(base + '/#/tradeoff');
  await page.locator('g.run').first().waitFor(T);
  const n = await page.locator('g.run').count();
  assert.ok(n >= 2, `runs drawn (${n})`);
  assert.ok((await page.locator('table.front tbody tr').count()) >= 1, 'the frontier is listed');
  assert.ok((await page.locator('path.iso').count()) >= 1, 'EDP iso-lines are drawn');
  await page.getByLabel('shape by').selectOption('dtype');
  await screenshot(page, `${prefix}-tradeoff`);
  if (model) {
    await page.getByLabel('Model').selectOption(model);
    await page.waitForFunction((m) => [...document.querySelectorAll('g.run')].every((g) => g.getAttribute('aria-label').startsWith(m + ',')) && document.querySelectorAll('g.run').length > 0, model, T);
    await page.getByLabel('Model').selectOption('');
    await page.waitForFunction((k) => document.querySelectorAll('g.run').length === k, n, T);
  }
  // Marks may overlap: open one from the keyboard, as a user may.
  const mark = page.locator('g.run').first();
  const id = await mark.getAttribute('data-run');
  await mark.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/analysis/${id}`), T);
  await page.getByText('Export CSV').waitFor(T);
}

// compareGroups selects one run of a repeat group and another run in the
// History, compares them as groups and returns the page's text.
export async function compareGroups(page, base, prefix, groupRunId, otherRunId) {
  await page.goto(base + '/#/history');
  await page.locator('table.runs tbody tr').nth(1).waitFor(T);
  await page.locator(`tr[data-run="${groupRunId}"] input[type=checkbox]`).check();
  await page.locator(`tr[data-run="${otherRunId}"] input[type=checkbox]`).check();
  await page.getByText('compare whole repeat groups').waitFor();
  await page.getByRole('link', { name: 'Compare selected (2–4)' }).click();
  await page.getByRole('heading', { name: 'Statistics' }).waitFor(T);
  assert.match(page.url(), /ids=group%3A/);
  const text = await page.locator('main').textContent();
  assert.match(text, /×\d/);
  await screenshot(page, `${prefix}-compare-groups`);
  return text;
}

// repeatFromLive starts a repeated run from the Live view with a chosen
// grid region, waits for the group to finish, and returns its run ids.
export async function repeatFromLive(page, base, prefix, { repeat = 2, cooldown = 1, region = 'eu' } = {}) {
  await page.goto(base + '/#/live');
  await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached', ...T });
  await page.getByLabel('Prompt').fill('Repeat after me');
  await page.getByLabel('Max tokens').fill('4');
  await page.getByLabel('Tags').fill('repeat');
  await page.getByLabel('Repeat', { exact: true }).fill(String(repeat));
  await page.getByLabel('Cooldown (s)').fill(String(cooldown));
  await page.getByLabel('grid region preset').selectOption(region);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/profiling/generate'));
  await page.getByRole('button', { name: 'Start profiling', exact: true }).click();
  const body = await (await answer).json();
  assert.equal(body.run_ids.length, repeat);
  assert.ok(body.repeat_group);
  await page.getByText(/repeat \d of \d|Cooling down/).first().waitFor(T);
  await screenshot(page, `${prefix}-live-repeat`);
  await page.getByText(/repeat group \w+ done/).waitFor({ timeout: 120000 });
  return body;
}
