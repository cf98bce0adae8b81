// The Metrics tab's performance targets, measured in headless Chromium against a real
// endpoint-server (run by `cargo xtask bench --panel-only`; results in docs/benchmarks.md):
//   node e2e/panel-bench.mjs [jobs] [loads]
// - first full render of a 24 h window holding `jobs` jobs (default 1,000,000):
//   performance.measure 'em-first-render' (navigation start -> numbers and charts set);
// - refreshes that each bring 200 new jobs (at least one of them sliding the window): 'em-refresh' (answer's body arrived ->
//   store merged, aggregation recomputed, text and charts updated), and the longest
//   long task (PerformanceObserver 'longtask') while auto-refresh runs;
// - the panel's wasm, gzipped.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startServer, openPanel, seedDb } from './harness.mjs';

const jobs = Number(process.argv[2] ?? 1_000_000);
const loads = Number(process.argv[3] ?? 5);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const wasm = readdirSync('dist').find((f) => f.endsWith('.wasm'));
const raw = readFileSync(`dist/${wasm}`);
const gz = gzipSync(raw, { level: 9 }).length;

console.log(`seeding ${jobs} jobs over 24 h ...`);
const db = await seedDb({ jobs, span: '24h', workers: 40, model: false });
const server = await startServer({ workers: 4, db, extraArgs: ['--no-rate-limits'] });
const url = `${server.url}/?endpoint=local&range=24h&refresh=2s`;
try {
  const first = [];
  let received = 0;
  for (let i = 0; i < loads; i++) {
    const { browser, page, problems } = await openPanel(url, { width: 1400, height: 900 });
    try {
      await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
      first.push(await page.evaluate(() => performance.getEntriesByName('em-first-render')[0].duration));
      received = Number(await page.getAttribute('[data-testid="total-received"]', 'data-value'));
      if (problems.length) throw new Error(problems.join('\n'));
    } finally {
      await browser.close();
    }
  }
  console.log(`first render, ${received} jobs in the window: ${first.map((x) => x.toFixed(0)).join(', ')} ms`);

  const { browser, page, problems } = await openPanel(url, { width: 1400, height: 900 });
  try {
    await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
    await page.evaluate(() => {
      window.__long = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
        .observe({ type: 'longtask' });
      performance.clearMeasures('em-refresh');
    });
    // At least 20 refreshes, and on until the window has slid to a new 5-minute
    // bucket once (a rebuild of the aggregation from the million records held).
    let rounds = 0;
    const slid = () => page.evaluate(() => performance.getEntriesByName('em-slide').length > 0);
    for (; rounds < 20 || (!(await slid()) && rounds < 200); rounds++) {
      // 200 new jobs, then one refresh interval.
      await Promise.all(Array.from({ length: 200 }, () => fetch(`${server.url}/v2/local/run`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { sleepMs: 5 } }),
      })));
      await page.waitForTimeout(2_000);
    }
    const refresh = await page.evaluate(() => performance.getEntriesByName('em-refresh').map((e) => e.duration));
    const longTasks = await page.evaluate(() => window.__long);
    const slides = await page.evaluate(() => performance.getEntriesByName('em-slide').length);
    const aggregate = await page.evaluate((n) => performance.getEntriesByName('em-aggregate').slice(-n).map((e) => e.duration), rounds);
    const after = Number(await page.getAttribute('[data-testid="total-received"]', 'data-value'));
    if (problems.length) throw new Error(problems.join('\n'));
    console.log(`refreshes while 200 jobs arrive every 2 s: ${refresh.length} measured, median ${median(refresh).toFixed(1)} ms, max ${Math.max(...refresh).toFixed(1)} ms; window now ${after} jobs`);
    console.log(`of which merge + aggregation: median ${median(aggregate).toFixed(1)} ms, max ${Math.max(...aggregate).toFixed(1)} ms`);
    console.log(`long tasks during auto-refresh: ${longTasks.length}, longest ${longTasks.length ? Math.max(...longTasks).toFixed(0) : 0} ms (all: ${longTasks.map((x) => x.toFixed(0)).join(", ")}); slides of the window: ${slides}`);
  } finally {
    await browser.close();
  }
  console.log('');
  console.log('| measure | result | target |');
  console.log('|---|---|---|');
  console.log(`| first full render, 24 h window, ${received.toLocaleString('en')} jobs (median of ${loads}) | ${median(first).toFixed(0)} ms | <= 2000 ms |`);
  console.log(`| panel wasm, gzip -9 | ${(gz / 1024).toFixed(0)} KB (${(raw.length / 1024).toFixed(0)} KB raw) | <= 400 KB |`);
} finally {
  await server.stop();
}
