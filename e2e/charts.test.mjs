// The charts themselves, in a real browser: the tooltip is written by the panel's Rust
// formatter (handed to ECharts as a function inside the typed option), and what the
// user hid in a legend stays hidden when a refresh sets a new option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, openPanel, waitForText, waitSettled } from './harness.mjs';

const pad = (n) => String(n).padStart(2, '0');
const utcDateTime = (ms) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};
const utcClock = (ms) => utcDateTime(ms).slice(11);

test("a chart's tooltip is the panel's own formatter: the bucket's span and its counts, equal to the server's records", async () => {
  const srv = await startServer({ workers: 3 });
  const n = 30;
  for (let i = 0; i < n; i++) await submit(srv.url, { sleepMs: 20 + ((i * 31) % 200), fail: i % 7 === 3 });
  await waitSettled(srv, n);
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=off&tz=utc`);
  try {
    await waitForText(page, 'poll-state', 'Paused');
    await waitForText(page, 'total-received', String(n));
    const from = Number(await page.getAttribute('[data-testid="metrics"]', 'data-from'));
    const to = Number(await page.getAttribute('[data-testid="metrics"]', 'data-to'));
    const bucket = Number(await page.getAttribute('[data-testid="metrics"]', 'data-bucket'));
    const snap = await (await fetch(`${srv.url}/v2/local/metrics/snapshot?from=${from}&to=${to}&format=json`)).json();
    // Independently: jobs received and failed per bucket.
    const received = new Map();
    const failed = new Map();
    const add = (m, b) => m.set(b, (m.get(b) ?? 0) + 1);
    for (const j of snap.jobs) {
      add(received, Math.floor((j.submittedAt - from) / bucket));
      if (j.status === 'FAILED') add(failed, Math.floor((j.completedAt - from) / bucket));
    }
    const [b, count] = [...received.entries()].sort((x, y) => y[1] - x[1])[0];
    // Hover the bucket's "received" point on the canvas.
    const at = await page.evaluate((b) => {
      const el = document.querySelector('[data-testid="chart-requests"] .chart');
      const chart = echarts.getInstanceByDom(el);
      const series = chart.getOption().series;
      const k = series.findIndex((s) => s.name === 'received' && typeof s.data[b] === 'number');
      if (k < 0) return null;
      const [x, y] = chart.convertToPixel({ seriesIndex: k }, [b, series[k].data[b]]);
      const r = el.getBoundingClientRect();
      return { x: r.left + x, y: r.top + y };
    }, b);
    assert.ok(at, `bucket ${b} has a received point`);
    await page.mouse.move(at.x - 3, at.y - 3);
    await page.mouse.move(at.x, at.y);
    const tip = '[data-testid="chart-requests"] .tip-time';
    await page.waitForSelector(tip, { state: 'visible', timeout: 10_000 });
    assert.equal(await page.textContent(tip),
      `${utcDateTime(from + b * bucket)} UTC → ${utcClock(from + (b + 1) * bucket)}`);
    const rows = await page.$$eval('[data-testid="chart-requests"] .tip-row', (rs) =>
      Object.fromEntries(rs.map((r) => [r.textContent.replace(/\s*\S+$/, '').trim(), r.querySelector('b').textContent])));
    assert.equal(rows.received, String(count), JSON.stringify(rows));
    assert.equal(rows.failed, String(failed.get(b) ?? 0), JSON.stringify(rows));
    assert.deepEqual(Object.keys(rows), ['received', 'completed', 'failed', 'retried', 'cancelled', 'timed out']);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

/**
 * The jobs received as the Requests chart draws them, each bucket once: a bucket's
 * point is on the solid line, or on the dashed twin that joins the last complete
 * bucket to the filling one (so the twin repeats the last complete bucket).
 */
function receivedOnChart() {
  const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
  const lines = chart.getOption().series.filter((s) => s.name === 'received');
  const n = Math.max(...lines.map((s) => s.data.length));
  let sum = 0;
  for (let b = 0; b < n; b++) {
    const v = lines.map((s) => s.data[b]).find((x) => typeof x === 'number');
    if (v !== undefined) sum += v;
  }
  return sum;
}

test('a series hidden from a legend stays hidden when a refresh brings new numbers', async () => {
  const srv = await startServer({ workers: 2 });
  for (let i = 0; i < 5; i++) await submit(srv.url, { sleepMs: 20 });
  await waitSettled(srv, 5);
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=2s&tz=utc`);
  try {
    await waitForText(page, 'total-received', '5');
    const state = async () => ({
      received: await page.evaluate(receivedOnChart),
      selected: await page.evaluate(() => {
        const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
        return chart.getOption().legend[0].selected ?? {};
      }),
    });
    // What a click on the legend item does (ECharts' legend dispatches this action).
    await page.evaluate(() => {
      const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
      chart.dispatchAction({ type: 'legendUnSelect', name: 'failed' });
      chart.dispatchAction({ type: 'legendUnSelect', name: 'completed' });
    });
    const before = await state();
    assert.equal(before.selected.failed, false);
    assert.equal(before.selected.completed, false);
    // New jobs: the next refreshes set new options on the same chart. Some land before
    // a bucket boundary and some after it, so the dashed twin of the filling bucket
    // repeats a complete bucket with data, on any machine.
    const width = Number(await page.getAttribute('[data-testid="metrics"]', 'data-bucket'));
    for (let i = 0; i < 3; i++) await submit(srv.url, { sleepMs: 20 });
    const start = Math.floor(Date.now() / width);
    while (Math.floor(Date.now() / width) === start) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 4; i++) await submit(srv.url, { sleepMs: 20 });
    await waitForText(page, 'total-received', '12', 30_000);
    for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
      if (await page.evaluate(receivedOnChart) === 12) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const after = await state();
    assert.equal(after.received, 12, 'the chart was given the new numbers');
    assert.equal(after.selected.failed, false, 'failed is still hidden');
    assert.equal(after.selected.completed, false, 'completed is still hidden');
    assert.notEqual(after.selected.received, false, 'received still shown');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});

test('ECharts that does not load: every chart in view says so, and the numbers are still shown', async () => {
  const srv = await startServer({ workers: 1 });
  await submit(srv.url, { sleepMs: 20 });
  await waitSettled(srv, 1);
  // The panel loads ECharts itself once it has asked for the first snapshot
  // (src/charts/echarts.rs); here that load fails.
  const failEcharts = (page) => page.route('**/echarts.js', (r) => r.fulfill({ status: 404, body: 'gone' }));
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=off`, undefined, null, failEcharts);
  try {
    await waitForText(page, 'poll-state', 'Paused');
    await waitForText(page, 'total-received', '1');
    await page.waitForFunction(() => document.querySelectorAll('.chart-problem').length >= 6, null, { timeout: 10_000 });
    const said = await page.evaluate(() => [...document.querySelectorAll('.chart-problem')].map((p) => p.textContent));
    assert.ok(said.every((t) => t.includes('ECharts did not load')), JSON.stringify(said));
    assert.equal(await page.evaluate(() => document.querySelectorAll('.chart canvas').length), 0);
    // The failed download is the only error.
    assert.deepEqual(problems.filter((p) => !p.includes('404')), []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
