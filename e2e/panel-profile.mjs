// Where the page's main-thread time goes (issue 13's targets), from a CPU profile of
// headless Chromium (DevTools protocol, sampled every 100 µs) against a real
// endpoint-server: the first load up to `em-first-render`, then refreshes that each
// bring 200 new jobs.
//   node e2e/panel-profile.mjs [jobs] [refreshes] [dist]   (default: 1,000,000 20 dist)
// Prints, for each phase, the self time by kind (our wasm, ECharts, the wasm-bindgen
// glue, the browser's own work: garbage collection, layout, ...) and the heaviest
// functions. Wasm functions are named when the build keeps its name section (a
// `trunk build --release` does not: build with `data-wasm-opt="0"` to read them).
import { startServer, openPanel, seedDb } from './harness.mjs';

const jobs = Number(process.argv[2] ?? 1_000_000);
const refreshes = Number(process.argv[3] ?? 20);
const dist = process.argv[4] ?? 'dist';

/** Self time per function and per kind of a CPU profile, ms. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const kinds = new Map();
  const funcs = new Map();
  for (const [id, ms] of self) {
    const f = byId.get(id).callFrame;
    const url = f.url ?? '';
    const kind = url.endsWith('.wasm') || f.functionName.startsWith('$') || /^wasm-function/.test(f.functionName)
      ? 'wasm'
      : url.includes('echarts') ? 'ECharts'
        : url.includes('metrics-panel') || url.includes('engine') ? 'wasm-bindgen glue'
          : f.functionName.startsWith('(') ? f.functionName
            : url === '' ? '(browser)' : `other JS (${url.split('/').pop()})`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + ms);
    const key = `${f.functionName || '(anonymous)'} ${url.split('/').pop()}:${f.lineNumber}`;
    funcs.set(key, (funcs.get(key) ?? 0) + ms);
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { kinds: top(kinds, 20), funcs: top(funcs, 25) };
}

function print(title, s, per = 1) {
  console.log(`\n## ${title}\n`);
  console.log('| kind | self ms |\n|---|---:|');
  for (const [k, ms] of s.kinds) if (k !== '(idle)') console.log(`| ${k} | ${(ms / per).toFixed(1)} |`);
  console.log('\n| function | self ms |\n|---|---:|');
  for (const [k, ms] of s.funcs) if (!k.startsWith('(idle)')) console.log(`| \`${k}\` | ${(ms / per).toFixed(2)} |`);
}

console.log(`seeding ${jobs} jobs over 24 h ...`);
const db = process.env.E2E_TIMELINE_DB ?? await seedDb({ jobs, span: '24h', workers: 40, model: false });
const server = await startServer({ workers: 4, db, dist, extraArgs: ['--no-rate-limits'] });
try {
  const url = `${server.url}/?endpoint=local&range=24h&refresh=2s`;
  // A page that is not yet navigated: the profiler starts before the page's scripts.
  const { browser, page, problems } = await openPanel('about:blank', { width: 1400, height: 900 });
  try {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName('em-first-render').length > 0, null, { timeout: 60_000 });
    const first = (await cdp.send('Profiler.stop')).profile;
    print('navigation to the first full render (main thread)', summarize(first));

    await page.evaluate(() => performance.clearMeasures('em-refresh'));
    await cdp.send('Profiler.start');
    for (let i = 0; i < refreshes; i++) {
      await Promise.all(Array.from({ length: 200 }, () => fetch(`${server.url}/v2/local/run`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { sleepMs: 5 } }),
      })));
      await page.waitForTimeout(2_000);
    }
    const during = (await cdp.send('Profiler.stop')).profile;
    const n = await page.evaluate(() => performance.getEntriesByName('em-refresh').length);
    print(`refreshes (per refresh, ${n} refreshes)`, summarize(during), n);
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
