// The job list's performance targets, in headless Chromium against a real
// endpoint-server holding 100,000 jobs in the window (run by `cargo xtask bench
// --panel-only`; results in docs/benchmarks.md):   node e2e/jobs-bench.mjs [jobs]
// - filter + sort in wasm: performance.measure 'em-list' (endpoint-core's query over
//   the store, every row) for each sort column both ways and a few chip filters;
// - scrolling: the list scrolled by 400 px on every animation frame for 300 frames;
//   frame-to-frame times (requestAnimationFrame) and long tasks meanwhile.
import { startServer, openPanel, seedDb } from './harness.mjs';

const jobs = Number(process.argv[2] ?? 100_000);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

console.log(`seeding ${jobs} jobs over 1 h ...`);
const db = await seedDb({ jobs, span: '1h', workers: 40, model: false });
const server = await startServer({ workers: 2, db, extraArgs: ['--no-rate-limits'] });
const { browser, page, problems } = await openPanel(
  `${server.url}/?endpoint=local&range=6h&refresh=off&tab=jobs`, { width: 1400, height: 900 });
try {
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="job-count"]')?.dataset.value) > 0,
    null, { timeout: 120_000 });
  const listed = Number(await page.getAttribute('[data-testid="job-count"]', 'data-value'));
  const list = [];
  const clickAndMeasure = async (sel) => {
    const before = await page.evaluate(() => performance.getEntriesByName('em-list').length);
    await page.click(sel);
    await page.waitForFunction((n) => performance.getEntriesByName('em-list').length > n, before, { timeout: 30_000 });
    return page.evaluate(() => performance.getEntriesByName('em-list').at(-1).duration);
  };
  for (const col of ['id', 'status', 'submitted', 'delay', 'execution', 'worker', 'retries', 'webhook']) {
    for (let k = 0; k < 2; k++) list.push({ what: `sort ${col} (${k ? 'second' : 'first'} direction)`, ms: await clickAndMeasure(`[data-testid="sort-${col}"]`) });
  }
  for (const chip of ['COMPLETED', 'FAILED', 'IN_QUEUE']) {
    list.push({ what: `chip ${chip} off`, ms: await clickAndMeasure(`[data-testid="chip-${chip}"]`) });
    list.push({ what: `chip ${chip} on`, ms: await clickAndMeasure(`[data-testid="chip-${chip}"]`) });
  }
  console.log(`filter + sort of ${listed} jobs in wasm ('em-list'):`);
  for (const l of list) console.log(`  ${l.what.padEnd(34)} ${l.ms.toFixed(1).padStart(6)} ms`);
  const ms = list.map((l) => l.ms);
  console.log(`  median ${median(ms).toFixed(1)} ms, slowest ${Math.max(...ms).toFixed(1)} ms (target <= 30 ms)`);

  const scroll = await page.evaluate(() => new Promise((resolve) => {
    const el = document.querySelector('[data-testid="job-scroll"]');
    const longTasks = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
    obs.observe({ type: 'longtask' });
    const gaps = [];
    let last = null;
    let n = 0;
    const step = (t) => {
      if (last !== null) gaps.push(t - last);
      last = t;
      el.scrollTop += 400;
      if (++n < 300) requestAnimationFrame(step);
      else setTimeout(() => { obs.disconnect(); resolve({ gaps, longTasks, top: el.scrollTop, rows: document.querySelectorAll('[data-testid="job-row"]').length }); }, 200);
    };
    requestAnimationFrame(step);
  }));
  // The work each scroll step costs: the scroll handler, the rows re-drawn (Leptos
  // effects run as microtasks), and the layout, measured up to the next task.
  const work = await page.evaluate(async () => {
    const el = document.querySelector('[data-testid="job-scroll"]');
    el.scrollTop = 0;
    const mc = new MessageChannel();
    const nextTask = () => new Promise((r) => { mc.port1.onmessage = () => r(); mc.port2.postMessage(0); });
    const out = [];
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => requestAnimationFrame(r));
      const t0 = performance.now();
      el.scrollTop += 400;
      el.dispatchEvent(new Event('scroll'));
      await nextTask();
      el.querySelector('.job-window').getBoundingClientRect();
      out.push(performance.now() - t0);
    }
    return out;
  });
  console.log(`  work per scroll step (handler + rows re-drawn + layout): median ${median(work).toFixed(2)} ms, p95 ${pct(work, 0.95).toFixed(2)} ms, max ${Math.max(...work).toFixed(2)} ms (target < 16 ms)`);
  const g = scroll.gaps;
  console.log(`scrolling 300 frames x 400 px (to ${scroll.top} px, ${scroll.rows} rows in the DOM):`);
  console.log(`  frame time median ${median(g).toFixed(1)} ms, p95 ${pct(g, 0.95).toFixed(1)} ms, max ${Math.max(...g).toFixed(1)} ms; frames over 16.7 ms: ${g.filter((x) => x > 16.7).length} of ${g.length}`);
  console.log(`  long tasks (> 50 ms) while scrolling: ${scroll.longTasks.length ? scroll.longTasks.map((x) => x.toFixed(0)).join(', ') : 'none'}`);
  if (problems.length) throw new Error(problems.join('\n'));
} finally {
  await browser.close();
  await server.stop();
}
