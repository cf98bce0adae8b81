// Where the first render's time goes, on the page and in the engine's worker:
//   node e2e/panel-timeline.mjs [jobs] [loads] [dist]      (default: 1,000,000 2 dist)
// seeds a day of `jobs` jobs (or uses E2E_TIMELINE_DB, a database seeded before),
// starts the release endpoint-server (E2E_SERVER_BIN) on it for each load, opens
// `?endpoint=local&range=24h&refresh=0` in headless Chromium at 1400x900, waits for
// 'em-first-render', and prints each side's marks in ms since the page's navigation:
// the engine's worker starting, its snapshot request, body, decode
// ('em-snapshot-decoded'), aggregation ('em-snapshot-aggregated'), the answer on the
// page ('em-body'), the first render, and the page's long tasks [start, duration].
import { startServer, openPanel, seedDb } from './harness.mjs';

const jobs = Number(process.argv[2] ?? 1_000_000);
const loads = Number(process.argv[3] ?? 2);
const dist = process.argv[4] ?? 'dist';
const db = process.env.E2E_TIMELINE_DB ?? await seedDb({ jobs, span: '24h', workers: 40, model: false });
const observe = () => {
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([Math.round(e.startTime), Math.round(e.duration)]); })
    .observe({ type: 'longtask', buffered: true });
};
const short = (name) => name.replace(/^.*\//, '').replace(/\?.*$/, '');
for (let i = 0; i < loads; i++) {
  const server = await startServer({ workers: 4, db, dist, extraArgs: ['--no-rate-limits'] });
  const { browser, page } = await openPanel(`${server.url}/?endpoint=local&range=24h&refresh=0`, { width: 1400, height: 900 }, observe);
  try {
    await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
    const read = () => ({
      origin: performance.timeOrigin,
      marks: performance.getEntries().filter((e) => ['mark', 'measure', 'resource'].includes(e.entryType))
        .map((e) => [e.name, e.startTime, e.duration]),
      long: globalThis.__long ?? [],
    });
    const p = await page.evaluate(read);
    const w = page.workers()[0] ? await page.workers()[0].evaluate(read) : null;
    const line = (r, shift) => r.marks.map(([n, t, d]) => `${short(n)} ${Math.round(t + shift)}${d >= 1 ? `+${Math.round(d)}` : ''}`).join(', ');
    console.log(`load ${i + 1}\n  page:   ${line(p, 0)}\n  long tasks: ${JSON.stringify(p.long)}`);
    if (w) console.log(`  engine: worker started at ${Math.round(w.origin - p.origin)}; ${line(w, w.origin - p.origin)}`);
  } finally {
    await browser.close();
    await server.stop();
  }
}
