// The charts themselves, in a real browser: the tooltip is written by the panel's Rust
// formatter (handed to ECharts as a function inside the typed option), and what the
// user hid in a legend stays hidden when a refresh sets a new option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, openPanel, waitForText } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function settled(srv, n) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = await (await fetch(`${srv.url}/v2/local/health`)).json();
    if (h.jobs.completed + h.jobs.failed >= n && h.jobs.inQueue === 0 && h.jobs.inProgress === 0) return;
    if (Date.now() > deadline) throw new Error(`jobs did not finish: ${JSON.stringify(h.jobs)}`);
    await sleep(200);
  }
}

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
  await settled(srv, n);
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

test('a series hidden from a legend stays hidden when a refresh brings new numbers', async () => {
  const srv = await startServer({ workers: 2 });
  for (let i = 0; i < 5; i++) await submit(srv.url, { sleepMs: 20 });
  await settled(srv, 5);
  const { browser, page, problems } = await openPanel(`${srv.url}/?endpoint=local&range=15m&refresh=2s&tz=utc`);
  try {
    await waitForText(page, 'total-received', '5');
    const state = () => page.evaluate(() => {
      const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
      const o = chart.getOption();
      const received = o.series.filter((s) => s.name === 'received')
        .flatMap((s) => s.data).filter((v) => typeof v === 'number').reduce((a, v) => a + v, 0);
      return { selected: o.legend[0].selected ?? {}, received };
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
    // New jobs: the next refreshes set new options on the same chart.
    for (let i = 0; i < 7; i++) await submit(srv.url, { sleepMs: 20 });
    await waitForText(page, 'total-received', '12', 30_000);
    await page.waitForFunction(() => {
      const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
      return chart.getOption().series.filter((s) => s.name === 'received')
        .flatMap((s) => s.data).filter((v) => typeof v === 'number').reduce((a, v) => a + v, 0) === 12;
    }, null, { timeout: 20_000 });
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
