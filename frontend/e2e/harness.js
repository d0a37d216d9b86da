// Shared set-up for the end-to-end tests: start the real headless server on a
// free port with a throw-away data folder, and drive Debian's Chromium with
// playwright-core (which never downloads a browser).
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const binary = process.env.ENERGYPROFILER_BIN ?? join(repoRoot, 'bin', 'energyprofiler');
export const shotsDir = process.env.E2E_SHOTS ?? join(repoRoot, 'build', 'e2e-shots');

// startServer runs `energyprofiler serve` and resolves once it prints its URL.
export async function startServer(extraArgs = [], extraEnv = {}) {
  const home = mkdtempSync(join(tmpdir(), 'ep-e2e-'));
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), ...extraEnv };
  // Quantizing the GGUF demos costs seconds of CPU per server: only the
  // tests that ask for them (--quantized-demos) get them.
  const quantized = extraArgs.some((a) => a.startsWith('--quantized-demos')) ? [] : ['--quantized-demos=false'];
  const startS = quantized.length ? 30 : 240; // quantizing on a busy 2-core machine
  const proc = spawn(binary, ['serve', '--addr', '127.0.0.1:0', ...quantized, ...extraArgs], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => (log += d));
  const url = await new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGTERM'); // a server left running would keep the test process alive
      rej(new Error(`server did not start in ${startS} s; log:\n${log}`));
    }, startS * 1000);
    proc.stdout.on('data', (d) => {
      log += d;
      const m = /dashboard: (http:\/\/\S+)/.exec(String(d));
      if (m) {
        clearTimeout(timer);
        res(m[1].replace(/\/$/, ''));
      }
    });
    proc.on('exit', (code) => rej(new Error(`server exited with ${code}; log:\n${log}`)));
  });
  return {
    url,
    home,
    env,
    log: () => log,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--disable-dev-shm-usage',
    ],
  });
}

// newPage opens a page that fails the test on any uncaught page error.
export async function newPage(browser, errors) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => errors.push(e));
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(shotsDir, { recursive: true });
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// runCLI runs another energyprofiler command with a server's environment
// (same data folder), resolving to {code, out}.
export function runCLI(server, args, timeoutMs = 120000) {
  return new Promise((res) => {
    const p = spawn(binary, args, { env: server.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, out });
    });
  });
}
