// Real workers in the browser: an endpoint whose jobs run on real `runpod` worker
// processes (examples/workers/echo), and the panel showing what the supervisor
// measured: the Metrics tab's cold starts, the Workers tab's lanes, facts and logs,
// and a job's own log lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, submit, openPanel, waitForText, percentile } from './harness.mjs';

const ROOT = resolve(import.meta.dirname, '..');
// Screenshots to look at after a run (docs/ keeps the curated ones).
const SHOTS = process.env.E2E_SHOTS ?? tmpdir();

/** A server with the simulated `local` and `w`, real workers of examples/workers/echo. */
async function realWorkerServer({ startupSleep = '1' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'endpoint-e2e-w-'));
  const config = join(dir, 'server.toml');
  writeFileSync(config, [
    '[[endpoints]]', 'id = "local"', '',
    '[[endpoints]]', 'id = "w"', 'runtime = "process"', 'min_workers = 0', 'max_workers = 2', 'idle_timeout_ms = 60000',
    '[endpoints.process]',
    `command = [${JSON.stringify(join(ROOT, '.venv/bin/python'))}, "handler.py"]`,
    `cwd = ${JSON.stringify(join(ROOT, 'examples/workers/echo'))}`,
    'scaler = "request_count"', 'scaler_value = 1', 'ping_interval_ms = 2000',
    `env = { STARTUP_SLEEP = "${startupSleep}" }`, '',
  ].join('\n'));
  // --workers would pin min = max on every endpoint: not passed.
  const server = await startServer({ workers: null, extraArgs: ['--config', config] });
  const stop = server.stop;
  // The config file's directory goes with the server (the harness removes its own).
  server.stop = async () => {
    try { await stop(); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
  return server;
}

async function json(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return res.json();
}

async function settled(base, n) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = await json(`${base}/v2/w/health`);
    if (h.jobs.completed + h.jobs.failed >= n && h.jobs.inQueue === 0 && h.jobs.inProgress === 0) return h;
    if (Date.now() > deadline) throw new Error(`jobs did not finish: ${JSON.stringify(h.jobs)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


test('the Metrics tab shows the cold starts the supervisor measured on real workers', async () => {
  const server = await realWorkerServer();
  try {
    const n = 4;
    for (let i = 0; i < n; i++) await submit(server.url, { sleep: 0.5, i }, 'w');
    await settled(server.url, n);
    const { workers } = await json(`${server.url}/v2/w/workers`);
    const cold = workers.filter((w) => w.coldStartMs != null).map((w) => w.coldStartMs);
    assert.ok(cold.length >= 1, JSON.stringify(workers));
    // The handler sleeps 1 s at import, after Python and `import runpod` (seconds more
    // on a loaded machine).
    for (const c of cold) assert.ok(c >= 1000 && c < 90_000, `cold start ${c} ms`);
    const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=w&range=15m&refresh=off&tz=utc`);
    try {
      await waitForText(page, 'poll-state', 'Paused');
      await waitForText(page, 'total-completed', String(n));
      const count = Number(await page.getAttribute('[data-testid="cold-start-count"]', 'data-value'));
      assert.equal(count, cold.length, 'one cold start per worker the supervisor started');
      const p70 = Number(await page.getAttribute('[data-testid="cold-start-p70"]', 'data-value'));
      assert.ok(Math.abs(p70 - percentile(cold, 0.7)) < 1e-9, `cold start P70: panel ${p70}, supervisor ${cold}`);
      const p98 = Number(await page.getAttribute('[data-testid="cold-start-p98"]', 'data-value'));
      assert.ok(Math.abs(p98 - percentile(cold, 0.98)) < 1e-9, `cold start P98: panel ${p98}, supervisor ${cold}`);
      // Each job's delay covers the cold start it waited for: at least the shortest.
      const delayP70 = Number(await page.getAttribute('[data-testid="delay-p70"]', 'data-value'));
      assert.ok(delayP70 >= Math.min(...cold) - 1000, `delay P70 ${delayP70} vs cold starts ${cold}`);
      await page.screenshot({ path: join(SHOTS, 'real-workers-metrics.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
  }
});

test('the Workers tab: one lane per real worker, its facts and logs live, and a job opened from its lane', async () => {
  const server = await realWorkerServer({ startupSleep: '0' });
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(server.url, { sleep: 0.4, tag: `lane-${i}` }, 'w'));
    await settled(server.url, 3);
    const { workers } = await json(`${server.url}/v2/w/workers`);
    const live = workers.filter((w) => w.endedAt == null);
    assert.ok(live.length >= 1, JSON.stringify(workers));
    const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=w&range=15m&refresh=2s&tab=workers&tz=utc`);
    try {
      await page.waitForSelector('[data-testid="workers-tab"]');
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="worker-lane"]').length === n, workers.length, { timeout: 20_000 });
      const lanes = await page.$$eval('[data-testid="worker-lane"]', (ls) => ls.map((l) => l.dataset.worker).sort());
      assert.deepEqual(lanes, workers.map((w) => w.id).sort(), 'a lane per worker the supervisor started');
      // Each lane shows its state segments and the jobs it ran (blocks closer than a
      // fraction of the window are merged; data-count says how many jobs one holds).
      const blocks = await page.$$eval('[data-testid="worker-job"]', (bs) => bs.map((b) => ({ job: b.dataset.job, n: Number(b.dataset.count) })));
      assert.equal(blocks.reduce((a, b) => a + b.n, 0), ids.length, JSON.stringify(blocks));
      for (const b of blocks) assert.ok(ids.includes(b.job), `a block names one of its jobs: ${b.job}`);
      assert.ok(await page.locator('[data-testid="worker-segment"]').count() >= workers.length);

      // Select the worker that ran the first job: its facts, then its logs, live.
      const first = await json(`${server.url}/v2/w/status/${ids[0]}`);
      await page.click(`[data-testid="worker-lane"][data-worker="${first.workerId}"] [data-testid="worker-name"]`);
      await waitForText(page, 'worker-id', first.workerId);
      const facts = workers.find((w) => w.id === first.workerId);
      await page.waitForFunction((pid) => (document.querySelector('[data-testid="worker-facts"]')?.textContent ?? '').includes(pid), String(facts.pid), { timeout: 10_000 });
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="worker-logs"] [data-testid="log-line"]')]
        .some((l) => l.textContent.includes('ready: first request')), null, { timeout: 10_000 });
      // A new job's lines follow without a reload.
      const later = await submit(server.url, { sleep: 0.2, tag: 'followed' }, 'w');
      await settled(server.url, 4);
      const laterStatus = await json(`${server.url}/v2/w/status/${later}`);
      if (laterStatus.workerId === first.workerId) {
        await page.waitForFunction((id) => [...document.querySelectorAll('[data-testid="worker-logs"] [data-testid="log-line"]')]
          .some((l) => l.textContent.includes(id)), later, { timeout: 15_000 });
      }

      // A job block opens that job's detail with its own log lines.
      const opened = blocks[0].job;
      await page.click(`[data-testid="worker-job"][data-job="${opened}"]`);
      await waitForText(page, 'detail-id', opened);
      await page.waitForFunction(() => (document.querySelector('[data-testid="job-logs"]')?.textContent ?? '').includes("echo handler got"), null, { timeout: 10_000 });
      const jobLines = await page.textContent('[data-testid="job-logs"]');
      assert.ok(jobLines.includes('Started.'), jobLines);
      assert.ok(!jobLines.includes('ready: first request'), 'only the job\'s own lines');
      assert.ok(page.url().includes(`job=${opened}`), page.url());

      await page.goto(`${server.url}/?endpoint=w&range=15m&refresh=off&tab=workers&worker=${first.workerId}&tz=utc`);
      await page.waitForSelector('[data-testid="worker-facts"]');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="worker-logs"] [data-testid="log-line"]').length > 3, null, { timeout: 10_000 });
      await page.screenshot({ path: join(SHOTS, 'workers.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
  }
});
