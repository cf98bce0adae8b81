// The Metrics tab against a real endpoint-server: the numbers equal those computed
// independently from the server's records; live updates; every fault is named and
// recovered from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, openPanel, waitForText, waitForContains, percentile, waitSettled } from './harness.mjs';
import { startFaultProxy } from './fault-proxy.mjs';


async function dataValue(page, testid) {
  return page.getAttribute(`[data-testid="${testid}"]`, 'data-value');
}

test('the numbers shown equal those computed independently from the server records', async () => {
  const server = await startServer({ workers: 3 });
  const n = 40;
  for (let i = 0; i < n; i++) await submit(server.url, { sleepMs: 20 + ((i * 37) % 400), fail: i % 9 === 4 });
  await waitSettled(server, n);
  // Refresh off: one snapshot, so the page and our computation see the same records.
  const { browser, page, problems, requests } = await openPanel(`${server.url}/?endpoint=local&range=15m&refresh=off&tz=utc`);
  try {
    // Auto-refresh off: the numbers are read once and said not to be live.
    await waitForText(page, 'poll-state', 'Paused');
    await waitForText(page, 'total-received', String(n));
    // One snapshot: the one asked for before the app mounted (feed::live::head_start)
    // is the one the poll loop shows.
    assert.equal(requests.filter((u) => u.includes('/metrics/snapshot')).length, 1, 'one snapshot request');
    // Computed in the panel's Web Worker (the engine), not on the page.
    assert.equal(await page.getAttribute('[data-testid="poll-status"]', 'data-engine'), 'worker');
    assert.deepEqual(page.workers().map((w) => new URL(w.url()).pathname), ['/engine_loader.js']);
    const from = Number(await page.getAttribute('[data-testid="metrics"]', 'data-from'));
    const to = Number(await page.getAttribute('[data-testid="metrics"]', 'data-to'));
    assert.ok(to - from === 15 * 60_000, `a 15-minute window, got ${from}..${to}`);
    const snap = await (await fetch(`${server.url}/v2/local/metrics/snapshot?from=${from}&to=${to}&format=json`)).json();
    const inW = (t) => t !== undefined && t !== null && t >= from && t < to;
    const jobs = snap.jobs;
    const ended = (s) => jobs.filter((j) => j.status === s && inW(j.completedAt)).length;
    const expected = {
      'total-received': jobs.filter((j) => inW(j.submittedAt)).length,
      'total-completed': ended('COMPLETED'),
      'total-failed': ended('FAILED'),
      'total-cancelled': ended('CANCELLED'),
      'total-timed-out': ended('TIMED_OUT'),
      'cold-start-count': snap.coldStarts.filter((c) => inW(c.readyAt)).length,
    };
    assert.equal(expected['total-received'], n);
    assert.ok(expected['total-failed'] > 0);
    for (const [id, want] of Object.entries(expected)) {
      assert.equal(Number(await dataValue(page, id)), want, id);
    }
    const exec = jobs.filter((j) => j.startedAt != null && inW(j.completedAt) && j.executionTime != null).map((j) => j.executionTime);
    const delay = jobs.filter((j) => inW(j.startedAt)).map((j) => j.delayTime);
    const cold = snap.coldStarts.filter((c) => inW(c.readyAt)).map((c) => c.duration);
    for (const [name, xs] of [['execution', exec], ['delay', delay], ['cold-start', cold]]) {
      assert.ok(xs.length > 0, `${name}: some samples`);
      for (const [q, label] of [[0.7, 'p70'], [0.9, 'p90'], [0.98, 'p98']]) {
        const got = Number(await dataValue(page, `${name}-${label}`));
        const want = percentile(xs, q);
        assert.ok(Math.abs(got - want) < 1e-9, `${name} ${label}: panel ${got}, independent ${want}`);
      }
    }
    // Only the charts in view draw (docs/architecture.md): the last card, below the
    // fold, has no chart yet; each draws once scrolled into view.
    const charts = await page.evaluate(() => document.querySelectorAll('.chart').length);
    assert.equal(charts, 7);
    assert.equal(await page.evaluate(() => document.querySelectorAll('.chart')[6].querySelector('canvas')), null,
      'the card below the fold is not drawn before it is in view');
    // Every chart is drawn, each by one ECharts instance: its inked pixels (-1: no canvas).
    const inked = (i) => {
      const c = document.querySelectorAll('.chart')[i].querySelector('canvas');
      if (!c) return -1;
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let k = 3; k < px.length; k += 4) if (px[k] !== 0) n++;
      return n;
    };
    const drawn = [];
    for (let i = 0; i < charts; i++) {
      await page.evaluate((i) => document.querySelectorAll('.chart')[i].scrollIntoView({ block: 'center' }), i);
      await page.waitForFunction(`(${inked})(${i}) > 500`, null, { timeout: 10_000 }).catch(() => {});
      const n = await page.evaluate(inked, i);
      drawn.push(n < 0 ? 'no canvas' : n > 500 ? 'ok' : `only ${n} pixels`);
    }
    assert.deepEqual(drawn, Array(7).fill('ok'));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('new jobs appear live, the URL keeps the view, and the instances are reused', async () => {
  const server = await startServer({ workers: 1 });
  const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=local&range=15m&refresh=1s`);
  try {
    await waitForText(page, 'poll-state', 'Live');
    await waitForText(page, 'total-received', '0');
    await submit(server.url, { sleepMs: 6000 });
    await waitForText(page, 'stat-in-progress', '1');
    for (let i = 0; i < 3; i++) await submit(server.url, { sleepMs: 10 });
    await waitForText(page, 'stat-in-queue', '3');
    await waitForText(page, 'total-received', '4');
    await waitForText(page, 'total-completed', '4', 30_000);
    await waitForText(page, 'stat-in-queue', '0');
    // Charts below the fold draw once scrolled to; then a few more refreshes.
    await page.evaluate(() => document.querySelectorAll('.chart')[6].scrollIntoView());
    await page.waitForFunction(() => document.querySelectorAll('[_echarts_instance_]').length >= 7, null, { timeout: 10_000 })
      .catch(() => {});
    await page.waitForTimeout(2_500);
    const instances = await page.evaluate(() => document.querySelectorAll('[_echarts_instance_]').length);
    assert.equal(instances, 7, 'one instance per chart after many refreshes');

    // Controls write the URL; a reload restores the same view.
    await page.selectOption('[data-testid="range-picker"]', '6h');
    await page.selectOption('[data-testid="tz-picker"]', 'utc');
    await page.selectOption('[data-testid="theme-picker"]', 'dark');
    await page.waitForFunction(() => location.search.includes('range=6h'));
    const url = page.url();
    assert.match(url, /endpoint=local/);
    assert.match(url, /tz=utc/);
    assert.match(url, /theme=dark/);
    await page.reload();
    await waitForText(page, 'poll-state', 'Live');
    assert.equal(await page.inputValue('[data-testid="range-picker"]'), '6h');
    assert.equal(await page.inputValue('[data-testid="tz-picker"]'), 'utc');
    assert.equal(await page.getAttribute('#endpoint-metrics', 'data-theme'), 'dark');
    const to = Number(await page.getAttribute('[data-testid="metrics"]', 'data-to'));
    const from = Number(await page.getAttribute('[data-testid="metrics"]', 'data-from'));
    assert.equal(to - from, 6 * 3_600_000);
    await waitForText(page, 'total-received', '4');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('every fault is named on screen, the last data stays, and the panel recovers', async () => {
  const server = await startServer({ workers: 1 });
  const proxy = await startFaultProxy(server.url);
  for (let i = 0; i < 3; i++) await submit(server.url, { sleepMs: 10 });
  const { browser, page, problems } = await openPanel(`${proxy.url}/?endpoint=local&range=15m&refresh=1s`);
  try {
    await waitForText(page, 'poll-state', 'Live');
    await waitForText(page, 'total-received', '3');
    const faults = [
      ['down', 'Cannot reach the endpoint server'],
      ['401', 'HTTP 401: API key missing or not accepted'],
      ['403', 'HTTP 403: this API key may not read this endpoint'],
      ['404', 'HTTP 404: no such endpoint: no endpoint named `local`'],
      ['429', 'HTTP 429: rate limited by the server: rate limit of /metrics exceeded (server asks to wait 1 s)'],
      ['500', 'HTTP 500: server error: internal error'],
      ['503', 'HTTP 503: server error: <html>Service Unavailable</html>'],
      ['malformed', 'The server sent a response the panel cannot read: expected ident at line 1 column 2'],
      ['truncated', 'The server sent a response the panel cannot read: EOF while parsing'],
      ['invalid', 'The server sent an invalid record: delayTime of job `bad-job` is negative'],
      ['hang', 'The endpoint server did not answer within 10 s'],
    ];
    for (const [mode, message] of faults) {
      proxy.setMode(mode);
      await waitForContains(page, 'poll-error', message, 30_000);
      assert.equal(await page.textContent('[data-testid="poll-state"]'), 'Stale', mode);
      assert.equal(await dataValue(page, 'total-received'), '3', `${mode}: last good data kept`);
      proxy.setMode('pass');
      await waitForText(page, 'poll-state', 'Live', 40_000);
      assert.equal(await page.$('[data-testid="poll-error"]'), null, `${mode}: error cleared`);
    }
    // And it is still following the feed.
    await submit(server.url, { sleepMs: 10 });
    await waitForText(page, 'total-received', '4');
    // The only console errors are the failed requests we caused.
    const unexpected = problems.filter((p) => !/Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION|net::/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await proxy.stop();
    await server.stop();
  }
});

test('the Demo endpoint is the default and is labelled as such', async () => {
  const server = await startServer({ workers: 0 });
  const { browser, page, problems } = await openPanel(`${server.url}/`);
  try {
    await waitForText(page, 'poll-state', 'Live', 30_000);
    assert.equal(await page.textContent('[data-testid="demo-badge"]'), 'Demo');
    assert.match(await page.textContent('[data-testid="demo-note"]'), /simulated in this browser/);
    // It runs in the panel's Web Worker, found beside the bundle.
    assert.equal(await page.textContent('[data-testid="demo-where"]'), 'in a background worker');
    assert.deepEqual(page.workers().map((w) => new URL(w.url()).pathname), ['/engine_loader.js']);
    assert.match(await page.inputValue('[data-testid="endpoint-picker"]'), /^demo$/);
    // A day of history: hundreds of jobs in the last hour's window even at the
    // trough of the Demo's daily wave (0.4/s x 0.4 = about 580 an hour).
    const received = Number(await dataValue(page, 'total-received'));
    assert.ok(received > 200, `demo received ${received}`);
    assert.ok(Number(await dataValue(page, 'execution-p98')) > 0);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('an API key set in Settings is used, kept in sessionStorage, and never put in the URL', async () => {
  const key = 'e2e-secret-key-123';
  const server = await startServer({ workers: 0, extraArgs: ['--api-key', key] });
  const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=local&refresh=1s`);
  try {
    await waitForContains(page, 'poll-error', 'HTTP 401: API key missing or not accepted');
    await page.click('[data-testid="tab-settings"]');
    await page.fill('[data-testid="add-endpoint-id"]', 'local');
    await page.fill('[data-testid="add-endpoint-key"]', key);
    await page.click('[data-testid="add-endpoint-submit"]');
    await waitForText(page, 'poll-state', 'Live', 30_000);
    await waitForText(page, 'total-received', '0');
    assert.ok(!page.url().includes(key), 'the key is not in the URL');
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage } }));
    assert.ok(Object.values(stored.session).includes(key), 'kept for this tab');
    assert.ok(!Object.values(stored.local).includes(key), 'not remembered unless asked');
    assert.ok(Object.keys(stored.local).some((k) => k === 'endpoint-metrics.endpoints'), 'the endpoint is saved');
    const unexpected = problems.filter((p) => !p.includes('401'));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('controls are reachable and usable from the keyboard, and every chart is labelled', async () => {
  const server = await startServer({ workers: 0 });
  const { browser, page, problems } = await openPanel(`${server.url}/?refresh=off`);
  try {
    await waitForText(page, 'poll-state', 'Paused', 30_000);
    // Tab from the top of the page to the range picker, then change it with the keyboard.
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.dataset.testid === 'range-picker');
    }
    assert.ok(reached, 'the range picker is reachable with Tab');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => location.search.includes('range='));
    // Every chart has an accessible name, and its numbers are text.
    const charts = await page.$$eval('.chart', (els) => els.map((e) => [e.getAttribute('role'), e.getAttribute('aria-label') ?? '']));
    assert.equal(charts.length, 7);
    for (const [role, label] of charts) {
      assert.equal(role, 'img');
      assert.ok(label.length > 40, `a descriptive label: "${label}"`);
    }
    // Every control has a visible label.
    const unlabelled = await page.$$eval('.controls select', (els) => els.filter((e) => !e.closest('label')?.textContent.trim()).length);
    assert.equal(unlabelled, 0);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
