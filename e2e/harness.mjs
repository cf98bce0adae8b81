// Shared pieces of the browser end-to-end tests: a real endpoint-server serving the
// release build of the panel, and headless Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const SERVER_BIN = process.env.E2E_SERVER_BIN ?? 'target/debug/endpoint-server';
const DIST = process.env.E2E_DIST ?? 'dist';
const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';

/** Starts endpoint-server on 127.0.0.1 (port 0 = a free one); resolves once it listens. */
export async function startServer({ workers = 1, port = 0, extraArgs = [], db = null, dist = DIST, bin = SERVER_BIN } = {}) {
  if (!existsSync(bin)) throw new Error(`no server binary at ${bin}: build endpoint-server first`);
  if (!existsSync(`${dist}/index.html`)) throw new Error(`no panel build in ${dist}: run trunk build --release first`);
  // A database of our own is removed with the server (one left in /tmp per test run
  // otherwise); one the caller passed is the caller's.
  const own = db === null ? mkdtempSync(join(tmpdir(), 'endpoint-e2e-')) : null;
  const child = spawn(bin, [
    'serve', '--listen', `127.0.0.1:${port}`,
    // workers: null leaves every endpoint's own worker counts (real-worker endpoints).
    ...(workers === null ? [] : ['--workers', String(workers)]), '--cold-start-ms', '200',
    '--panel-dir', dist, '--db', db ?? join(own, 'e2e.db'), ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('endpoint-server did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`endpoint-server exited early with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    if (own) rmSync(own, { recursive: true, force: true });
  };
  return { url, port: Number(new URL(url).port), stop, child };
}

/** POSTs a job to /run and returns its id. */
export async function submit(base, input, endpoint = 'local') {
  const res = await fetch(`${base}/v2/${endpoint}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  if (res.status !== 200) throw new Error(`/run answered ${res.status}: ${await res.text()}`);
  return (await res.json()).id;
}

/** Waits (up to 60 s) until `n` jobs have ended and nothing is queued or running. */
export async function waitSettled(server, n) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = await (await fetch(`${server.url}/v2/local/health`)).json();
    if (h.jobs.completed + h.jobs.failed >= n && h.jobs.inQueue === 0 && h.jobs.inProgress === 0) return;
    if (Date.now() > deadline) throw new Error(`jobs did not finish: ${JSON.stringify(h.jobs)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function health(base, endpoint = 'local') {
  const res = await fetch(`${base}/v2/${endpoint}/health`);
  return res.json();
}

/**
 * Opens the panel in a fresh headless Chromium page and records every console error
 * and uncaught exception in `problems` (tests assert it stays empty, or filter the
 * network errors they provoke on purpose), and every request's URL in `requests`.
 */
export async function openPanel(url, viewport = { width: 1280, height: 900 }, init = null, before = null) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport });
  const problems = [];
  // Every request the page and its workers make, by URL (in order).
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  // A script to run before the page's own (a performance observer, say).
  if (init) await page.addInitScript(init);
  // Anything else to set up before the page loads (routes that fail a file, say).
  if (before) await before(page);
  await page.goto(url);
  return { browser, page, problems, requests };
}

/** Waits until the element with this data-testid shows exactly `expected`. */
export async function waitForText(page, testid, expected, timeout = 20_000) {
  const sel = `[data-testid="${testid}"]`;
  try {
    await page.waitForFunction(
      ([s, want]) => document.querySelector(s)?.textContent === want,
      [sel, expected],
      { timeout, polling: 100 },
    );
  } catch (e) {
    const got = await page.textContent(sel).catch(() => '(element missing)');
    throw new Error(`${testid}: expected "${expected}", still "${got}" after ${timeout} ms`);
  }
}

/** Waits until the element's text contains `needle`. */
export async function waitForContains(page, testid, needle, timeout = 20_000) {
  const sel = `[data-testid="${testid}"]`;
  try {
    await page.waitForFunction(
      ([s, want]) => (document.querySelector(s)?.textContent ?? '').includes(want),
      [sel, needle],
      { timeout, polling: 100 },
    );
  } catch (e) {
    const got = await page.textContent(sel).catch(() => '(element missing)');
    throw new Error(`${testid}: expected to contain "${needle}", got "${got}" after ${timeout} ms`);
  }
}

/** Writes a synthetic history into a fresh database (endpoint-server seed --model). */
export async function seedDb({ jobs = 50_000, span = '24h', workers = 8, model = true } = {}) {
  const db = join(mkdtempSync(join(tmpdir(), 'endpoint-seed-')), 'seed.db');
  const child = spawn(SERVER_BIN, ['seed', '--db', db, '--jobs', String(jobs), '--span', span,
    '--workers', String(workers), ...(model ? ['--model'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`endpoint-server seed exited with ${code}`);
  return db;
}

/** numpy's default percentile (type 7, linear); null for no values. */
export function percentile(values, q) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/**
 * Headless Firefox (ESR) through geckodriver's WebDriver API (playwright drives only
 * its own Firefox builds): opens `url` at `width` x `height` and resolves to
 * `{ run(script, ...args), screenshot(), close() }`; `run` executes a function body in
 * the page and returns its result.
 */
export async function openFirefox(url, { width = 1400, height = 900 } = {}) {
  const { spawn: spawnProcess } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const { homedir } = await import('node:os');
  const gecko = process.env.E2E_GECKODRIVER
    ?? [join(homedir(), '.cargo/bin/geckodriver'), '/usr/local/bin/geckodriver'].find(existsSync)
    ?? 'geckodriver';
  const binary = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find(existsSync);
  const port = await new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
  });
  const driver = spawnProcess(gecko, ['--host', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  const wd = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method, headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(j.value ?? j)}`);
    return j.value;
  };
  let sid = null;
  try {
    for (let i = 0; ; i++) {
      try { await wd('GET', '/status'); break; } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const s = await wd('POST', '/session', {
      capabilities: { alwaysMatch: { 'moz:firefoxOptions': { binary, args: ['-headless', `-width=${width}`, `-height=${height}`] } } },
    });
    sid = s.sessionId;
    await wd('POST', `/session/${sid}/window/rect`, { width, height });
    await wd('POST', `/session/${sid}/url`, { url });
  } catch (e) {
    if (sid) await wd('DELETE', `/session/${sid}`).catch(() => {});
    driver.kill();
    throw e;
  }
  return {
    run: (script, ...args) => wd('POST', `/session/${sid}/execute/sync`, { script, args }),
    screenshot: async () => Buffer.from(await wd('GET', `/session/${sid}/screenshot`), 'base64'),
    close: async () => {
      await wd('DELETE', `/session/${sid}`).catch(() => {});
      driver.kill();
    },
  };
}

/** Polls `check()` (async) until it returns a truthy value, at most `timeout` ms. */
export async function eventually(what, check, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out: ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
