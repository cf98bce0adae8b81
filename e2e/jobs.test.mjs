// The job list ("Requests") against a real endpoint-server: cancel from the UI (the
// worker stops), a cancel that loses the race to completion, bulk cancel through the
// server's rate limit, the detail timeline, and a click on a P98 point listing exactly
// the jobs at or above it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { startServer, submit, openPanel, waitForText, waitForContains, percentile } from './harness.mjs';
import { startFaultProxy } from './fault-proxy.mjs';

const api = (srv, path, init) => fetch(`${srv.url}/v2/local/${path}`, init).then((r) => r.json());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The ids of the rows in the DOM (the list is virtualised: only those in view). */
const rowIds = (page) => page.$$eval('[data-testid="job-row"]', (rows) => rows.map((r) => r.dataset.id));
const row = (id) => `[data-testid="job-row"][data-id="${id}"]`;

test('cancel a running job from the list: CANCELLED through the API, its worker stops, one request for a double click', async () => {
  const srv = await startServer({ workers: 1 });
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=2s&tab=jobs`);
  try {
    const id = await submit(srv.url, { sleepMs: 120_000 });
    await until('the job to run', async () => (await api(srv, `status/${id}`)).status === 'IN_PROGRESS');
    await page.waitForSelector(`${row(id)}[data-status="IN_PROGRESS"]`, { timeout: 20_000 });
    const cancels = [];
    page.on('request', (r) => { if (r.url().includes('/cancel/')) cancels.push(r.url()); });
    await page.click(`${row(id)} [data-testid="job-cancel"]`);
    await waitForContains(page, 'confirm-text', `Cancel job ${id}? It stops on its worker.`);
    await page.dblclick('[data-testid="confirm-yes"]');
    await waitForContains(page, 'job-notice', `Job ${id} cancelled.`);
    const st = await api(srv, `status/${id}`);
    assert.equal(st.status, 'CANCELLED');
    const h = await api(srv, 'health');
    assert.equal(h.jobs.inProgress, 0, 'nothing runs any more');
    assert.equal(h.workers.running, 0, 'the worker stopped running it');
    assert.equal(cancels.length, 1, `one request for a double click, got ${cancels.length}`);
    await page.waitForSelector(`${row(id)}[data-status="CANCELLED"]`, { timeout: 10_000 });
    assert.equal(await page.$(`${row(id)} [data-testid="job-cancel"]`), null, 'no Cancel on a cancelled job');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('a job that completes before the cancel arrives shows its real final state and says it could not be cancelled', async () => {
  const srv = await startServer({ workers: 1 });
  const id = await submit(srv.url, { sleepMs: 2_500 });
  await until('the job to run', async () => (await api(srv, `status/${id}`)).status === 'IN_PROGRESS');
  // Refresh off: the list keeps showing the job running while it completes.
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=off&tab=jobs`);
  try {
    await page.waitForSelector(`${row(id)}[data-status="IN_PROGRESS"]`, { timeout: 20_000 });
    await page.click(`${row(id)} [data-testid="job-cancel"]`);
    await until('the job to complete', async () => (await api(srv, `status/${id}`)).status === 'COMPLETED');
    await page.click('[data-testid="confirm-yes"]');
    await waitForText(page, 'job-notice', `Job ${id} could not be cancelled: it had already completed.`);
    await page.waitForSelector(`${row(id)}[data-status="COMPLETED"]`, { timeout: 10_000 });
    assert.equal(
      await page.textContent(`${row(id)} [data-testid="job-note"]`),
      'could not be cancelled: it had already completed',
    );
    assert.equal((await api(srv, `status/${id}`)).status, 'COMPLETED');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('a cancel the server refuses says why (401, 404, 429, 5xx, no answer), shows cancelling… while it waits, and can be sent again', async () => {
  const srv = await startServer({ workers: 1 });
  const proxy = await startFaultProxy(srv.url);
  const id = await submit(srv.url, { sleepMs: 120_000 });
  const { browser, page, problems } = await openPanel(`${proxy.url}/?endpoint=local&range=15m&refresh=2s&tab=jobs`);
  try {
    await page.waitForSelector(`${row(id)}[data-status="IN_PROGRESS"]`, { timeout: 20_000 });
    const cancel = async () => {
      await page.click(`${row(id)} [data-testid="job-cancel"]`);
      await page.click('[data-testid="confirm-yes"]');
    };
    const expected = {
      401: `Could not cancel job \`${id}\`: the API key is missing or not accepted (set it in Settings) (missing or invalid API key)`,
      404: `Could not cancel job \`${id}\`: the server does not know this job (its record may have expired) (unknown job)`,
      429: `Could not cancel job \`${id}\`: rate limited by the server (rate limit of /cancel exceeded (100 requests per 10 s): retry in 3 s); try again in 3 s`,
      500: `Could not cancel job \`${id}\`: server error, HTTP 500 (internal error (see the server log))`,
      503: `Could not cancel job \`${id}\`: server error, HTTP 503 (<html>Service Unavailable</html>)`,
    };
    for (const [status, message] of Object.entries(expected)) {
      proxy.setActionMode(status);
      await cancel();
      await waitForText(page, 'job-notice', message);
      assert.equal(await page.textContent(`${row(id)} [data-testid="job-note"]`), message);
      assert.equal((await api(srv, `status/${id}`)).status, 'IN_PROGRESS', `still running after ${status}`);
    }
    // No answer yet: the row says so, and the button waits.
    proxy.setActionMode('hang');
    await cancel();
    await waitForText(page, 'job-note', 'cancelling…');
    assert.equal(await page.isDisabled(`${row(id)} [data-testid="job-cancel"]`), true);
    proxy.setActionMode('pass'); // the held request is answered 504
    await waitForText(page, 'job-notice', `Could not cancel job \`${id}\`: server error, HTTP 504 (the upstream did not answer in time)`);
    // And the same button cancels once the server answers.
    await cancel();
    await waitForText(page, 'job-notice', `Job ${id} cancelled.`);
    assert.equal((await api(srv, `status/${id}`)).status, 'CANCELLED');
    const expectedErrors = problems.filter((p) => !/status of (401|404|429|500|503|504)/.test(p));
    assert.deepEqual(expectedErrors, []);
  } finally {
    await browser.close();
    await proxy.stop();
    await srv.stop();
  }
});

test('a read-only key sees the jobs and is offered no action; an operate key gets them back', async () => {
  const [opKey, viewKey] = ['e2e-operate-key-1', 'e2e-viewer-key-1'];
  const srv = await startServer({ workers: 1, extraArgs: ['--api-key', opKey, '--read-key', viewKey] });
  const auth = (k) => ({ headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' } });
  const res = await fetch(`${srv.url}/v2/local/run`, { method: 'POST', body: '{"input":{"sleepMs":120000}}', ...auth(opKey) });
  const { id } = await res.json();
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=1s&tab=jobs`);
  const useKey = async (key) => {
    await page.click('[data-testid="tab-settings"]');
    await page.fill('[data-testid="add-endpoint-id"]', 'local');
    await page.fill('[data-testid="add-endpoint-key"]', key);
    await page.click('[data-testid="add-endpoint-submit"]');
    await page.click('[data-testid="tab-jobs"]');
  };
  try {
    await useKey(viewKey);
    await page.waitForSelector(`${row(id)}[data-status="IN_PROGRESS"]`, { timeout: 30_000 });
    await waitForText(page, 'read-only', 'Read-only key: no actions');
    // The server said `read`: no Cancel, no bulk cancel, no purge, in the list or the detail.
    for (const sel of [`${row(id)} [data-testid="job-cancel"]`, '[data-testid="bulk-cancel"]', '[data-testid="purge-queue"]']) {
      assert.equal(await page.$(sel), null, `${sel} is shown to a read-only key`);
    }
    // Nor the selection boxes, which only serve the bulk cancel.
    for (const sel of [`${row(id)} [data-testid="job-select"]`, '[data-testid="select-all"]']) {
      assert.equal(await page.isVisible(sel), false, `${sel} is shown to a read-only key`);
    }
    await page.click(`${row(id)} [data-testid="job-open"]`);
    await page.waitForSelector('[data-testid="detail-status"]');
    assert.equal(await page.$('[data-testid="detail-cancel"]'), null, 'Cancel in the detail');
    // What the panel hides, the server refuses, naming the role.
    const refused = await fetch(`${srv.url}/v2/local/cancel/${id}`, { method: 'POST', ...auth(viewKey) });
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error, /needs the `operate` role/);
    // The operate key: the actions come back, and Cancel works.
    await useKey(opKey);
    await page.waitForSelector(`${row(id)} [data-testid="job-cancel"]`, { timeout: 30_000 });
    assert.equal(await page.$('[data-testid="read-only"]'), null);
    assert.ok(await page.$('[data-testid="purge-queue"]'), 'purge offered to an operate key');
    assert.ok(await page.isVisible(`${row(id)} [data-testid="job-select"]`), 'selection for an operate key');
    await page.click(`${row(id)} [data-testid="job-cancel"]`);
    await page.click('[data-testid="confirm-yes"]');
    await waitForContains(page, 'job-notice', `Job ${id} cancelled.`);
    // Before any key the feed answered 401; nothing else went wrong.
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('retry a failed job from the list: RunPod /retry queues it again', async () => {
  const srv = await startServer({ workers: 1 });
  const id = await submit(srv.url, { sleepMs: 50, fail: true });
  await until('the job to fail', async () => (await api(srv, `status/${id}`)).status === 'FAILED');
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=2s&tab=jobs&status=FAILED`);
  try {
    await page.waitForSelector(`${row(id)}[data-status="FAILED"]`, { timeout: 20_000 });
    assert.equal(await page.$(`${row(id)} [data-testid="job-cancel"]`), null, 'no Cancel on a failed job');
    await page.click(`${row(id)} [data-testid="job-retry"]`);
    await waitForContains(page, 'confirm-text', `Retry job ${id}?`);
    await page.click('[data-testid="confirm-yes"]');
    await waitForText(page, 'job-notice', `Job ${id} retried: queued again.`);
    const st = await api(srv, `status/${id}`);
    assert.equal(st.retries, 1, 'retried once');
    // It fails again (same input), and the list follows it with its retry count.
    await until('the retry to fail', async () => (await api(srv, `status/${id}`)).status === 'FAILED');
    await page.waitForFunction((sel) => document.querySelector(sel)?.querySelector('.col-retries')?.textContent === '1',
      `${row(id)}[data-status="FAILED"]`, { timeout: 20_000 });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('bulk cancel of 120 queued jobs goes through the /cancel rate limit (100 per 10 s, shared with other clients) and cancels every one', async () => {
  const srv = await startServer({ workers: 1 });
  const blocker = await submit(srv.url, { sleepMs: 120_000 });
  const queued = [];
  for (let i = 0; i < 120; i++) queued.push(await submit(srv.url, { sleepMs: 60_000 }));
  const { browser, page, problems } = await openPanel(
    `${srv.url}/?endpoint=local&range=15m&refresh=2s&tab=jobs&status=IN_QUEUE`,
  );
  try {
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-IN_QUEUE"]')?.dataset.count === '120',
      null, { timeout: 20_000 });
    assert.equal(await page.getAttribute('[data-testid="job-count"]', 'data-value'), '120');
    // Virtualised: far fewer rows in the DOM than listed.
    assert.ok((await rowIds(page)).length < 60, 'only the rows in view are drawn');
    await page.check('[data-testid="select-all"]');
    await waitForText(page, 'bulk-cancel', 'Cancel selected (120)');
    // A refresh bringing a new job keeps the scroll position and the selection.
    await page.evaluate(() => { document.querySelector('[data-testid="job-scroll"]').scrollTop = 1000; });
    const extra = await submit(srv.url, { sleepMs: 60_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-IN_QUEUE"]')?.dataset.count === '121',
      null, { timeout: 20_000 });
    assert.equal(await page.evaluate(() => document.querySelector('[data-testid="job-scroll"]').scrollTop), 1000);
    await waitForText(page, 'bulk-cancel', 'Cancel selected (120)');
    await page.click('[data-testid="bulk-cancel"]');
    await waitForText(page, 'confirm-text', 'Cancel 120 jobs?');
    // Another client of the endpoint has just used its /cancel budget (the limit is per
    // endpoint, shared by every caller), so the panel's first cancels meet a 429 however
    // fast or slow this machine is: cancels of an unknown id take tokens until one is refused.
    await until('the /cancel budget to be used up', async () => {
      const codes = await Promise.all(Array.from({ length: 25 }, () =>
        fetch(`${srv.url}/v2/local/cancel/not-a-job`, { method: 'POST' }).then((r) => r.status)));
      return codes.includes(429);
    });
    await page.click('[data-testid="confirm-yes"]');
    await waitForContains(page, 'bulk-progress', 'rate limited by the server: waiting', 30_000);
    await waitForText(page, 'bulk-progress', 'Cancelled 120 of 120 jobs.', 90_000);
    for (const id of queued) assert.equal((await api(srv, `status/${id}`)).status, 'CANCELLED', id);
    assert.equal((await api(srv, `status/${blocker}`)).status, 'IN_PROGRESS', 'unselected job untouched');
    assert.equal((await api(srv, `status/${extra}`)).status, 'IN_QUEUE', 'the unselected new job stays');
    const h = await api(srv, 'health');
    assert.equal(h.jobs.inQueue, 1);
    // The list follows: only the new job is queued.
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-IN_QUEUE"]')?.dataset.count === '1',
      null, { timeout: 20_000 });
    // Purge: the confirmation says how many, the answer too.
    await submit(srv.url, { sleepMs: 60_000 });
    await submit(srv.url, { sleepMs: 60_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-IN_QUEUE"]')?.dataset.count === '3',
      null, { timeout: 20_000 });
    await page.click('[data-testid="purge-queue"]');
    await waitForContains(page, 'confirm-text', 'This removes all 3 queued jobs');
    await page.click('[data-testid="confirm-yes"]');
    await waitForText(page, 'job-notice', 'Purged the queue: 3 jobs removed.');
    assert.equal((await api(srv, 'health')).jobs.inQueue, 0);
    assert.deepEqual(problems.filter((p) => !p.includes('429')), []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('the detail shows the timeline: queue, the cold start it waited on, run, end, webhook attempt with its status', async () => {
  const hook = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200); res.end('ok'); }); });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  // No warm worker: the job starts one and waits for its cold start.
  const srv = await startServer({ workers: 1, extraArgs: ['--min-workers', '0', '--allow-private-webhooks'] });
  try {
    const res = await fetch(`${srv.url}/v2/local/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { sleepMs: 150 }, webhook: `http://127.0.0.1:${hook.address().port}/hook` }),
    });
    const { id } = await res.json();
    await until('the webhook', async () => (await api(srv, `status/${id}`)).status === 'COMPLETED');
    await sleep(500);
    const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=2s&tab=jobs&job=${id}`);
    try {
      await page.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="step"]')].some((s) => s.dataset.kind.startsWith('webhook')),
        null, { timeout: 20_000 });
      const kinds = await page.$$eval('[data-testid="step"]', (s) => s.map((x) => x.dataset.kind));
      assert.deepEqual(kinds.filter((k) => k !== 'cold-start').slice(0, 3), ['queued', 'running', 'finished status-completed']);
      assert.ok(kinds.includes('cold-start'), `a cold start step: ${kinds}`);
      assert.equal(kinds.at(-1), 'webhook ok');
      const text = await page.textContent('[data-testid="timeline"]');
      assert.match(text, /Webhook attempt 1.*HTTP 200/s);
      assert.equal(await page.textContent('[data-testid="detail-id"]'), id);
      await waitForContains(page, 'raw-status', `"status": "COMPLETED"`);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  } finally {
    await srv.stop();
    hook.close();
  }
});

test('a click on a P98 point lists exactly the jobs of that bucket at or above it', async () => {
  const srv = await startServer({ workers: 4 });
  const n = 60;
  for (let i = 0; i < n; i++) await submit(srv.url, { sleepMs: 30 + ((i * 53) % 700) });
  await until('the jobs to finish', async () => {
    const h = await api(srv, 'health');
    return h.jobs.completed >= n && h.jobs.inQueue === 0 && h.jobs.inProgress === 0;
  }, 60_000);
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=off&tz=utc`);
  try {
    await waitForText(page, 'poll-state', 'Paused');
    const from = Number(await page.getAttribute('[data-testid="metrics"]', 'data-from'));
    const bucket = Number(await page.getAttribute('[data-testid="metrics"]', 'data-bucket'));
    const to = Number(await page.getAttribute('[data-testid="metrics"]', 'data-to'));
    const snap = await (await fetch(`${srv.url}/v2/local/metrics/snapshot?from=${from}&to=${to}&format=json`)).json();
    // Independently: execution samples per bucket (ran and ended, by completion).
    const byBucket = new Map();
    for (const j of snap.jobs) {
      if (j.startedAt == null || j.completedAt == null || j.completedAt < from || j.completedAt >= to) continue;
      const b = Math.floor((j.completedAt - from) / bucket);
      if (!byBucket.has(b)) byBucket.set(b, []);
      byBucket.get(b).push(j);
    }
    // Buckets with several jobs, the fullest first; the click must be unambiguous, so
    // take one whose P98 point is clearly apart from its P90 point on screen.
    const candidates = [...byBucket.entries()].filter(([, js]) => js.length >= 5)
      .sort((x, y) => y[1].length - x[1].length).map(([b]) => b);
    assert.ok(candidates.length > 0, 'a bucket with several jobs');
    const chartSel = '[data-testid="chart-execution"] .chart';
    const at = await page.evaluate(([sel, candidates]) => {
      const el = document.querySelector(sel);
      const chart = echarts.getInstanceByDom(el);
      const series = chart.getOption().series;
      // A line is two series: the complete buckets (solid) and the still-filling one
      // (dashed); the bucket's point is on whichever has a number there.
      const at = (name, b) => series.findIndex((s) => s.name === name && typeof s.data[b] === 'number');
      const r = el.getBoundingClientRect();
      for (const b of candidates) {
        const k = at('P98', b);
        const k90 = at('P90', b);
        if (k < 0 || k90 < 0) continue;
        const v = series[k].data[b];
        const [x, y] = chart.convertToPixel({ seriesIndex: k }, [b, v]);
        const [, y90] = chart.convertToPixel({ seriesIndex: k90 }, [b, series[k90].data[b]]);
        if (Math.abs(y - y90) >= 8) return { b, x: r.left + x, y: r.top + y, v };
      }
      return null;
    }, [chartSel, candidates]);
    assert.ok(at, 'a bucket whose P98 point stands apart from P90');
    const b = at.b;
    const jobs = byBucket.get(b);
    const p98 = percentile(jobs.map((j) => Math.round(j.executionTime)), 0.98);
    const expected = jobs.filter((j) => Math.round(j.executionTime) >= p98).map((j) => j.id).sort();
    assert.ok(expected.length >= 1);

    // Click the P98 point of bucket b on the canvas.
    assert.ok(typeof at.v === 'number', `P98 drawn at bucket ${b}: ${at.v}`);
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('[data-testid="jobs"]', { timeout: 10_000 });
    await waitForContains(page, 'focus-label', 'execution ≥');
    assert.equal(new URL(page.url()).searchParams.get('tab'), 'jobs');
    assert.equal(new URL(page.url()).searchParams.get('focus').split(',').slice(0, 3).join(','),
      `execution,${from + b * bucket},${from + (b + 1) * bucket}`);
    await page.waitForFunction((n) => document.querySelector('[data-testid="job-count"]')?.dataset.value === String(n),
      expected.length, { timeout: 10_000 });
    assert.deepEqual((await rowIds(page)).sort(), expected);
    // Export: the filtered list, as CSV and as JSON.
    const download = async (testid) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid="${testid}"]`)]);
      return { name: dl.suggestedFilename(), text: readFileSync(await dl.path(), 'utf8') };
    };
    const csv = await download('export-csv');
    assert.equal(csv.name, 'jobs.csv');
    const lines = csv.text.trim().split('\r\n');
    assert.ok(lines[0].startsWith('id,status,submittedAt,'), lines[0]);
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]).sort(), expected);
    const json = await download('export-json');
    assert.equal(json.name, 'jobs.json');
    const records = JSON.parse(json.text);
    assert.deepEqual(records.map((r) => r.id).sort(), expected);
    for (const r of records) {
      const orig = snap.jobs.find((j) => j.id === r.id);
      assert.equal(r.executionTime, Math.round(orig.executionTime), r.id);
      assert.equal(r.status, orig.status);
    }
    // Clearing the focus lists the whole window again.
    await page.click('[data-testid="focus-clear"]');
    await page.waitForFunction((n) => document.querySelector('[data-testid="job-count"]')?.dataset.value === String(n),
      n, { timeout: 10_000 });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
