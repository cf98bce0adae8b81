// The Demo's start in headless Chromium, with the Demo in the panel's Web Worker (the
// documented CSP) and on the page (the same portal with worker-src 'none'), side by
// side in alternating rounds: navigation to the first full render, and the main
// thread's long tasks meanwhile.
//   node e2e/demo-bench.mjs [rounds]      (cargo xtask bench --panel-only runs it)
import { chromium } from 'playwright-core';
import { startServer } from './harness.mjs';
import { CSP, startPortal } from './portal.mjs';

const rounds = Number(process.argv[2] ?? 5);
const server = await startServer({ workers: 0 });
const runs = { worker: [], page: [] };
try {
  for (let r = 0; r < rounds; r++) {
    for (const [mode, csp] of [['worker', CSP], ['page', `${CSP}; worker-src 'none'`]]) {
      const portal = await startPortal({ api: server.url, key: 'unused', bundles: { '/tools/demo-metrics/': '{}' }, csp });
      const browser = await chromium.launch({
        executablePath: process.env.E2E_CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        await page.addInitScript(() => {
          window.__long = [];
          new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
            .observe({ type: 'longtask', buffered: true });
        });
        await page.goto(`${portal.url}/tools/demo-metrics/`);
        await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
        await page.waitForTimeout(300);
        const m = await page.evaluate(() => ({
          first: performance.getEntriesByName('em-first-render')[0].duration,
          longest: Math.max(0, ...window.__long),
          over50: window.__long.filter((d) => d > 50).length,
          where: document.querySelector('[data-testid="demo-where"]')?.textContent,
        }));
        const expected = mode === 'worker' ? /^in a background worker$/ : /^on this page/;
        if (!expected.test(m.where)) throw new Error(`${mode}: the Demo runs ${m.where}`);
        runs[mode].push(m);
      } finally {
        await browser.close();
        await portal.stop();
      }
    }
  }
} finally {
  await server.stop();
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(`\n## The Demo's start, ${rounds} rounds each, alternating\n`);
console.log('| Demo runs | first full render ms (median) | longest main-thread task ms (median) | tasks over 50 ms (median) | every run: first / longest |');
console.log('|---|---:|---:|---:|---|');
for (const [mode, label] of [['worker', 'in the Web Worker'], ['page', 'on the page (worker-src \'none\')']]) {
  const rs = runs[mode];
  console.log(`| ${label} | ${median(rs.map((m) => m.first)).toFixed(0)} | ${median(rs.map((m) => m.longest)).toFixed(0)} | ${median(rs.map((m) => m.over50))} | ${rs.map((m) => `${m.first.toFixed(0)} / ${m.longest.toFixed(0)}`).join(', ')} |`);
}
