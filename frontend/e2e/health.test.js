import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { launchBrowser, newPage, screenshot, startServer } from './harness.js';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the dashboard loads from the headless server and shows /api/health', async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(server.url + '/');
  // The start page is the live view; the machine panel holds /api/health.
  await page.getByRole('heading', { name: 'New run' }).waitFor();
  await page.locator('.dot.on, .controls .muted, .controls .error').first().waitFor();
  await screenshot(page, 'real-live-start');
  await page.getByRole('link', { name: 'Machine', exact: true }).click();
  await page.getByRole('heading', { name: 'This machine' }).waitFor();
  const health = await (await page.request.get(server.url + '/api/health')).json();
  assert.equal(typeof health.version, 'string');
  assert.ok(Array.isArray(health.power_sources));
  assert.match(server.log(), /health requested/);
  await screenshot(page, 'health');
  assert.deepEqual(errors, []);
});

test('a foreign Host header is refused (DNS-rebinding defence)', async () => {
  // fetch() would replace the Host header, so send a raw request as a
  // rebinding page's browser would.
  const { status, body } = await new Promise((resolve, reject) => {
    const req = request(server.url + '/api/health', { headers: { Host: 'attacker.example:80' } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 403);
  assert.equal(body.error, 'forbidden host');
});
