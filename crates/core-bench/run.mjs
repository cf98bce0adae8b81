// Serves the browser bench (built into DIR by `cargo xtask bench`) on 127.0.0.1 and runs
// it in headless Chromium:  node crates/core-bench/run.mjs DIR [n] [runs]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const [dir, n = '1000000', runs = '7'] = process.argv.slice(2);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = await readFile(join(dir, path === '/' ? 'index.html' : path));
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end('not found');
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/index.html?n=${n}&runs=${runs}`;
const browser = await chromium.launch({
  executablePath: process.env.E2E_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__bench, null, { timeout: 600_000, polling: 500 });
  const r = await page.evaluate(() => window.__bench);
  if (r.error) throw new Error(r.error);
  const f = (x) => x.toFixed(1);
  console.log(`browser: ${r.userAgent}`);
  console.log(`${r.n} jobs, ${r.buckets} buckets, P70/P90/P98 of execution, delay, cold start + counts + worker states`);
  console.log(`  wasm (endpoint-core):  median ${f(r.wasmMedianMs)} ms   runs ${r.wasmMs.map(f).join(' ')}`);
  console.log(`  JS (d3-array quantile): median ${f(r.d3MedianMs)} ms   runs ${r.d3Ms.map(f).join(' ')}`);
  console.log(`  ratio d3 / wasm: ${r.ratio.toFixed(2)}x`);
  console.log(`  store: ${f(r.bytesPerJob)} bytes per job; generate+load ${f(r.generateAndLoadMs)} ms`);
  console.log(`  checksums: wasm ${r.checksumWasm} d3 ${r.checksumD3} -> ${r.checksumsAgree ? 'agree' : 'DISAGREE'}`);
  const d = r.decode;
  const mb = (x) => (x / 1e6).toFixed(1);
  console.log(`feed decode of ${r.n} jobs into a JobStore (wasm, copy from JS included):`);
  console.log(`  EMC2 columns: ${mb(d.columnsBytes)} MB, median ${f(d.columnsMedianMs)} ms   runs ${d.colMs.map(f).join(' ')}`);
  console.log(`  JSON records: ${mb(d.jsonBytes)} MB, median ${f(d.jsonMedianMs)} ms   runs ${d.jsonMs.map(f).join(' ')}`);
  console.log(`job list: filter + sort of ${r.list.n} jobs in wasm (median of 9):`);
  for (const sc of r.list.scenarios) {
    console.log(`  ${sc.name.padEnd(40)} ${f(sc.medianMs).padStart(6)} ms  (${sc.rows} rows)`);
  }
  const worst = Math.max(...r.list.scenarios.map((sc) => sc.medianMs));
  console.log(`  slowest scenario: ${f(worst)} ms (target <= 30 ms)`);
  if (!r.checksumsAgree) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
