// Remote mode (issue 12 item 10): a server bound beyond loopback asks a
// browser for its token once, on the login page, and then runs on an
// HttpOnly, SameSite=Strict session cookie: the API and the live WebSocket
// work without the page ever holding the token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, screenshot, startServer } from './harness.js';

const token = 'e2e-remote-token-0123456789abcdef';
let server, browser, url;
before(async () => {
  server = await startServer(['--addr', '0.0.0.0:0', '--allow-remote', '--power', 'cpu-load'], { ENERGYPROFILER_TOKEN: token });
  // The server listens on every interface and prints its loopback address.
  url = server.url;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the login page trades the token for a session cookie that the API and the live stream accept', async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url + '/');
  await page.getByRole('heading', { name: 'Log in to this Energy Profiler' }).waitFor();
  await screenshot(page, 'remote-login');

  // Without the cookie the API refuses.
  const refused = await fetch(url + '/api/profiling/runs');
  assert.equal(refused.status, 401);

  await page.getByLabel('Token').fill('not-the-token');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'does not match' }).waitFor();
  await screenshot(page, 'remote-login-wrong');

  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'New run' }).waitFor();
  // The live view's WebSocket connected with the cookie.
  await page.locator('.dot.on').first().waitFor({ timeout: 15000 });
  await screenshot(page, 'remote-dashboard');

  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'ep_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.notEqual(session.value, token);
  assert.equal(await page.evaluate(() => document.cookie), '', 'page scripts can read the session cookie');

  const runs = await page.evaluate(async () => (await fetch('/api/profiling/runs')).status);
  assert.equal(runs, 200);

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in to this Energy Profiler' }).waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/profiling/runs')).status);
  assert.equal(after, 401);
  assert.deepEqual(errors, []);
});
