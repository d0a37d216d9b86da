// Teams (issue 18): two machines push their runs (one an energy window) to
// a team server; a viewer logs in with a read-only token, filters the
// history by machine and kind and compares the machines, and is warned that
// their power sources differ.
// The team server stores into PostgreSQL when ENERGYPROFILER_TEST_PG names
// one (CI), else into SQLite: the dashboard is the same.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, newPage, runCLI, screenshot, startServer } from './harness.js';

const admin = 'e2e-team-admin-token-0123456789abcdef';
let server, browser, tmp, teamDB, pgName;
const tokens = {};

function teamDatabase() {
  const pg = process.env.ENERGYPROFILER_TEST_PG;
  if (!pg) return join(tmp, 'team.db');
  pgName = 'ep_e2e_team_' + process.pid;
  const r = spawnSync('psql', [pg, '-qc', `DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`, '-c', `CREATE DATABASE ${pgName}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('create the team database: ' + r.stderr);
  // The database is the URL's path (a socket URL has no host, which URL() refuses).
  const [base, query] = pg.split('?');
  return base.replace(/\/[^/]*$/, '/' + pgName) + (query ? '?' + query : '');
}

async function cli(args, env = {}) {
  const r = await runCLI({ env: { ...server.env, ...env } }, args);
  assert.equal(r.code, 0, `energyprofiler ${args.join(' ')}:\n${r.out}`);
  return r.out;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ep-team-'));
  teamDB = teamDatabase();
  server = await startServer(['--addr', '0.0.0.0:0', '--allow-remote', '--db', teamDB, '--power', 'cpu-load'], { ENERGYPROFILER_TOKEN: admin });
  browser = await launchBrowser();
  for (const [name, role] of [['mac-studio', 'push'], ['gpu-box', 'push'], ['lab-viewer', 'view']]) {
    const out = await cli(['token', 'add', name, '--role', role, '--db', teamDB]);
    tokens[name] = /ep_(push|view)_[0-9a-f]{48}/.exec(out)[0];
    writeFileSync(join(tmp, name + '.token'), tokens[name], { mode: 0o600 });
  }
  // Two machines, each measuring with its own power source.
  const trace = join(tmp, 'trace.jsonl');
  writeFileSync(trace, '{"kind": "measured_counter", "description": "e2e trace"}\n{"offset_ms": 0, "domains_mw": {"cpu": 15000}}\n');
  const model = join(server.home, 'EnergyProfiler', 'models', 'demo-15m-gqa');
  for (const [machine, power] of [['mac-studio', 'replay:' + trace], ['gpu-box', 'cpu-load']]) {
    const db = join(tmp, machine + '.db');
    await cli(['profile', '--model', model, '--prompt', 'The team compares machines', '--max-tokens', '8', '--repeat', '2', '--cooldown', '0',
      '--idle', '0', '--power', power, '--db', db], { ENERGYPROFILER_MACHINE: machine, ENERGYPROFILER_TOKEN: '' });
    // The studio also measured a data-prep step as an energy window.
    if (machine === 'mac-studio') {
      await cli(['measure', '--name', 'data prep', '--note', 'tokenize the corpus', '--idle', '0', '--power', power, '--db', db, '--', 'true'],
        { ENERGYPROFILER_MACHINE: machine, ENERGYPROFILER_TOKEN: '' });
    }
    const out = await cli(['push', '--all', '--to', server.url, '--db', db, '--token-file', join(tmp, machine + '.token')], { ENERGYPROFILER_TOKEN: '' });
    assert.match(out, new RegExp(`${machine === 'mac-studio' ? 3 : 2} run\\(s\\) copied`));
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (pgName) spawnSync('psql', [process.env.ENERGYPROFILER_TEST_PG, '-qc', `DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a viewer filters the team history by machine and compares the machines', async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(server.url + '/');
  await page.getByRole('heading', { name: 'Log in to this Energy Profiler' }).waitFor();
  await page.getByLabel('Token').fill(tokens['lab-viewer']);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();

  // Read-only: the viewer's session may not start runs.
  const generate = await page.evaluate(async () =>
    (await fetch('/api/profiling/generate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"model_name":"x","prompt":"p"}' })).status);
  assert.equal(generate, 403);
  // ...and the dashboard knows it: the health says read-only, and the
  // controls that would fail with 403 are disabled with the reason.
  const access = await page.evaluate(async () => (await (await fetch('/api/health')).json()).access);
  assert.equal(access.read_only, true);
  assert.equal(access.role, 'view');
  await page.goto(server.url + '/#/live');
  const start = page.getByRole('button', { name: 'Start profiling', exact: true });
  await start.waitFor();
  assert.ok(await start.isDisabled(), 'Start is disabled for a viewer');
  assert.match(await start.getAttribute('title'), /Read-only.*view token "lab-viewer".*only read/);
  assert.ok(await page.getByRole('button', { name: 'Cancel' }).isDisabled());
  assert.ok(await page.getByLabel('Prompt').isDisabled(), 'the run settings are disabled too');
  assert.match(await page.getByRole('note').filter({ hasText: 'Read-only' }).textContent(), /lab-viewer/);
  assert.match(await page.locator('header .readonly').textContent(), /read-only \(lab-viewer\)/);
  await screenshot(page, 'team-viewer-live-readonly');

  await page.goto(server.url + '/#/history');
  await page.locator('tr[data-run]').nth(4).waitFor();
  assert.equal(await page.locator('tr[data-run]').count(), 5);
  await page.getByLabel('Machine').selectOption({ label: 'mac-studio' });
  await page.getByText('3 runs', { exact: true }).waitFor();
  const cells = await page.locator('tr[data-run] td.machine').allTextContents();
  assert.deepEqual(cells, ['mac-studio', 'mac-studio', 'mac-studio']);
  const kinds = await page.locator('tr[data-run] .kind').allTextContents();
  assert.deepEqual(kinds, ['Energy window', 'Built-in engine', 'Built-in engine']);
  await screenshot(page, 'team-history-machine');
  // A run's Delete is disabled for the viewer, with the reason.
  const runID = await page.locator('tr[data-run]').first().getAttribute('data-run');
  await page.goto(server.url + '/#/run/' + encodeURIComponent(runID));
  const del = page.getByRole('button', { name: 'Delete…' });
  await del.waitFor();
  assert.ok(await del.isDisabled(), 'Delete is disabled for a viewer');
  assert.match(await del.getAttribute('title'), /Read-only/);
  await screenshot(page, 'team-viewer-run-readonly');
  await page.goto(server.url + '/#/history');
  await page.getByLabel('Machine').selectOption({ label: 'mac-studio' });
  await page.getByText('3 runs', { exact: true }).waitFor();
  // Both filters at once: the studio's windows.
  await page.getByLabel('Kind').selectOption('window');
  await page.getByText('1 run', { exact: true }).waitFor();
  assert.match(await page.locator('tr[data-run]').first().textContent(), /data prep.*Energy window.*mac-studio/s);

  // Machines are compared on their engine runs.
  await page.getByLabel('Machine').selectOption({ label: 'any' });
  await page.getByLabel('Kind').selectOption('engine');
  await page.getByText('4 runs', { exact: true }).waitFor();
  for (const box of await page.locator('tr[data-run] input[type=checkbox]').all()) await box.check();
  await page.getByRole('link', { name: 'Compare by machine' }).click();
  await page.getByRole('heading', { name: 'Compare machines' }).waitFor();
  const warning = page.locator('.warn li').filter({ hasText: 'different power sources' });
  await warning.waitFor();
  assert.match(await warning.textContent(), /cpu-load/);
  assert.match(await warning.textContent(), /replay/);
  const heads = await page.locator('table.stats thead th').allTextContents();
  assert.ok(heads.some((h) => h.startsWith('mac-studio')) && heads.some((h) => h.startsWith('gpu-box')), `groups: ${heads}`);
  await screenshot(page, 'team-compare-machines');
  assert.deepEqual(errors, []);
});
