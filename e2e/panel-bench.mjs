// The Metrics tab's performance targets (issue 13), measured in headless Chromium
// against a real endpoint-server, for one or more builds of the panel side by side
// (alternating loads over the same database):
//   node e2e/panel-bench.mjs [jobs] [loads] [dist[=server] ...]   (default: 1,000,000 5 dist)
// (E2E_TIMELINE_DB=FILE reuses a seeded database, as e2e/panel-timeline.mjs does.)
// (`cargo xtask bench --panel-only` runs it on dist/.) For each build:
// - first full render of a 24 h window holding `jobs` jobs: performance.measure
//   'em-first-render' (navigation start -> numbers and charts set), and the main
//   thread's long tasks from navigation to then (a buffered 'longtask' observer);
// - refreshes that each bring 200 new jobs (at least one of them sliding the window):
//   'em-refresh' (the refresh's answer on the page -> numbers, text and charts
//   updated), and the long tasks while auto-refresh runs;
// - what the page downloads before the first chart, gzipped: the page's own files,
//   and the engine worker's (which the first chart waits for where it runs).
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startServer, openPanel, seedDb } from './harness.mjs';

const jobs = Number(process.argv[2] ?? 1_000_000);
const loads = Number(process.argv[3] ?? 5);
// A build is a dist folder, or `DIST=SERVER` to serve it with its own endpoint-server
// binary (builds on either side of a change to the snapshot's format).
const builds = process.argv.length > 4 ? process.argv.slice(4) : ['dist'];
const dists = builds.map((b) => b.split('=')[0]);
const serverOf = Object.fromEntries(builds.map((b) => [b.split('=')[0], b.split('=')[1]]));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

/** Gzipped bytes of a build: the page's files, and the engine worker's. */
function bytes(dist) {
  const files = readdirSync(dist);
  const sum = (pred) => files.filter(pred).reduce((n, f) => n + gz(`${dist}/${f}`), 0);
  const engine = (f) => f.startsWith('engine');
  const page = (f) => !engine(f) && f !== 'embed.js' && /\.(wasm|js|css|html|json)$/.test(f);
  return { page: sum(page), engine: sum(engine) };
}

const observe = () => {
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push({ at: e.startTime, d: e.duration }); })
    .observe({ type: 'longtask', buffered: true });
};

// E2E_TIMELINE_DB: a database seeded before (its refreshes add to it), instead of
// seeding one now (~5 min for a million jobs).
const db = process.env.E2E_TIMELINE_DB ?? (console.log(`seeding ${jobs} jobs over 24 h ...`),
  await seedDb({ jobs, span: '24h', workers: 40, model: false }));
const results = Object.fromEntries(dists.map((d) => [d, { first: [], longest: [], over50: [], received: 0 }]));
for (let i = 0; i < loads; i++) {
  for (const dist of dists) {
    const server = await startServer({ workers: 4, db, dist, bin: serverOf[dist], extraArgs: ['--no-rate-limits'] });
    const r = results[dist];
    try {
      const url = `${server.url}/?endpoint=local&range=24h&refresh=2s`;
      const { browser, page, problems } = await openPanel(url, { width: 1400, height: 900 }, observe);
      try {
        await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
        const m = await page.evaluate(() => {
          const first = performance.getEntriesByName('em-first-render')[0].duration;
          const before = window.__long.filter((t) => t.at <= first).map((t) => t.d);
          return { first, longest: Math.max(0, ...before), over50: before.filter((d) => d > 50).length };
        });
        r.first.push(m.first); r.longest.push(m.longest); r.over50.push(m.over50);
        r.received = Number(await page.getAttribute('[data-testid="total-received"]', 'data-value'));
        if (problems.length) throw new Error(problems.join('\n'));
      } finally {
        await browser.close();
      }
    } finally {
      await server.stop();
    }
  }
}

for (const dist of dists) {
  const r = results[dist];
  const server = await startServer({ workers: 4, db, dist, bin: serverOf[dist], extraArgs: ['--no-rate-limits'] });
  try {
    const url = `${server.url}/?endpoint=local&range=24h&refresh=2s`;
    const { browser, page, problems } = await openPanel(url, { width: 1400, height: 900 }, observe);
    try {
      await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
      await page.evaluate(() => { window.__long = []; performance.clearMeasures('em-refresh'); });
      // At least 20 refreshes, and on until the window has slid to a new 5-minute
      // bucket once (a rebuild of the aggregation from the million records held).
      let rounds = 0;
      const slid = () => page.evaluate(() => performance.getEntriesByName('em-slide').length > 0);
      for (; rounds < 20 || (!(await slid()) && rounds < 200); rounds++) {
        await Promise.all(Array.from({ length: 200 }, () => fetch(`${server.url}/v2/local/run`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: { sleepMs: 5 } }),
        })));
        await page.waitForTimeout(2_000);
      }
      r.refresh = await page.evaluate(() => performance.getEntriesByName('em-refresh').map((e) => e.duration));
      r.refreshLong = await page.evaluate(() => window.__long.map((t) => t.d));
      r.slides = await page.evaluate(() => performance.getEntriesByName('em-slide').length);
      if (problems.length) throw new Error(problems.join('\n'));
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
  }
}

console.log(`\n## ${jobs.toLocaleString('en')} jobs, 24 h window: ${loads} loads of each build, alternating\n`);
console.log('| build | first full render ms (median) | longest task before it, ms (median) | tasks over 50 ms before it (median) | refresh, main thread ms (median / max, n) | longest task while refreshing ms | page gzip KB | + engine worker KB | every load: first / longest |');
console.log('|---|---:|---:|---:|---|---:|---:|---:|---|');
for (const dist of dists) {
  const r = results[dist];
  const b = bytes(dist);
  console.log(`| ${dist} | ${median(r.first).toFixed(0)} | ${median(r.longest).toFixed(0)} | ${median(r.over50)} | ${median(r.refresh).toFixed(1)} / ${Math.max(...r.refresh).toFixed(1)}, ${r.refresh.length} (slides ${r.slides}) | ${Math.max(0, ...r.refreshLong).toFixed(0)} | ${(b.page / 1024).toFixed(0)} | ${(b.engine / 1024).toFixed(0)} | ${r.first.map((x, i) => `${x.toFixed(0)} / ${r.longest[i].toFixed(0)}`).join(', ')} |`);
  console.log(`  (${r.received.toLocaleString('en')} jobs in the window at the last load)`);
}
