// Runs the Metrics-tab aggregation of a day of N jobs two ways in the same page, on the
// same data: endpoint-core compiled to wasm, and plain JavaScript using d3-array's
// `quantile` (what a panel without endpoint-core would do). Alternates the two, takes
// medians, and publishes the result on window.__bench for run.mjs. Then times the job
// list's filter + sort scenarios on 100,000 jobs.
import init, { Bench } from './pkg/core_bench.js';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 1_000_000);
const RUNS = Number(params.get('runs') ?? 7);
const QS = [0.7, 0.9, 0.98];

/** The same computation as endpoint-core's Aggregator, in JavaScript with d3.quantile. */
function aggregateD3(cols, status, cold, trans, from, to, bucket) {
  const [submitted, started, completed, delay, execution] = cols;
  const nb = Math.ceil((to - from) / bucket);
  const bucketOf = (t) => (t >= from && t < to ? Math.floor((t - from) / bucket) : -1);
  const counts = Array.from({ length: nb }, () => ({ received: 0, completed: 0, failed: 0, retried: 0, cancelled: 0, timedOut: 0 }));
  const exec = Array.from({ length: nb }, () => []);
  const del = Array.from({ length: nb }, () => []);
  const cs = Array.from({ length: nb }, () => []);
  for (let i = 0; i < submitted.length; i++) {
    const st = status[i] & 0x7f;
    let b = bucketOf(submitted[i]);
    if (b >= 0) { counts[b].received++; if (status[i] & 0x80) counts[b].retried++; }
    const terminal = st >= 2;
    if (terminal && !Number.isNaN(completed[i])) {
      b = bucketOf(completed[i]);
      if (b >= 0) {
        const c = counts[b];
        if (st === 2) c.completed++; else if (st === 3) c.failed++; else if (st === 4) c.cancelled++; else c.timedOut++;
        if (!Number.isNaN(started[i]) && !Number.isNaN(execution[i])) exec[b].push(execution[i]);
      }
    }
    if (!Number.isNaN(started[i])) {
      b = bucketOf(started[i]);
      if (b >= 0) del[b].push(delay[i]);
    }
  }
  for (let i = 0; i < cold.length; i += 2) {
    const b = bucketOf(cold[i]);
    if (b >= 0) cs[b].push(Math.round(cold[i + 1]));
  }
  const dist = (arr) => arr.length === 0
    ? { count: 0, min: null, max: null, mean: null, quantiles: QS.map(() => null) }
    : { count: arr.length, min: d3.min(arr), max: d3.max(arr), mean: d3.mean(arr), quantiles: QS.map((q) => d3.quantile(arr, q)) };
  const buckets = [];
  for (let b = 0; b < nb; b++) {
    buckets.push({ requests: counts[b], execution: dist(exec[b]), delay: dist(del[b]), coldStart: dist(cs[b]) });
  }
  const total = {
    execution: dist(exec.flat()),
    delay: dist(del.flat()),
    coldStart: dist(cs.flat()),
  };
  const workers = workerStats(trans, from, to, bucket, nb);
  return { buckets, total, workers };
}

/** Time-weighted average and max of workers per state per bucket (same rule as Rust). */
function workerStats(trans, from, to, bucket, nb) {
  const integral = new Float64Array(nb * 6);
  const known = new Float64Array(nb);
  const max = new Int32Array(nb * 6).fill(-1);
  const current = new Map();
  const counts = new Int32Array(6);
  const apply = (k) => {
    const w = trans[k], s = trans[k + 1];
    if (current.has(w)) { counts[current.get(w)]--; current.delete(w); }
    if (s >= 0) { counts[s]++; current.set(w, s); }
  };
  const measure = (s, e) => {
    while (s < e) {
      const b = Math.floor((s - from) / bucket);
      const end = Math.min(from + (b + 1) * bucket, to, e);
      known[b] += end - s;
      for (let k = 0; k < 6; k++) { integral[b * 6 + k] += counts[k] * (end - s); if (counts[k] > max[b * 6 + k]) max[b * 6 + k] = counts[k]; }
      s = end;
    }
  };
  let i = 0;
  const n = trans.length;
  while (i < n && trans[i + 2] <= from) { apply(i); i += 3; }
  let started = i > 0;
  let t = started ? from : (i < n ? Math.max(trans[i + 2], from) : to);
  for (;;) {
    const next = i < n ? Math.min(trans[i + 2], to) : to;
    if (started && next > t) measure(t, next);
    if (i >= n || trans[i + 2] >= to) break;
    const at = trans[i + 2];
    while (i < n && trans[i + 2] === at) { apply(i); i += 3; }
    const b = Math.floor((at - from) / bucket);
    for (let k = 0; k < 6; k++) if (counts[k] > max[b * 6 + k]) max[b * 6 + k] = counts[k];
    t = at; started = true;
  }
  const out = [];
  for (let b = 0; b < nb; b++) {
    out.push(Array.from({ length: 6 }, (_, k) => ({ avg: known[b] > 0 ? integral[b * 6 + k] / known[b] : null, max: max[b * 6 + k] >= 0 ? max[b * 6 + k] : null })));
  }
  return out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function main() {
  await init();
  const t0 = performance.now();
  const bench = new Bench(N, 42);
  const genMs = performance.now() - t0;
  const cols = bench.columns();
  const status = bench.status_column();
  const cold = bench.cold_starts();
  const trans = bench.transitions();
  const from = bench.window_start();
  const [, span, bucket] = bench.window();

  const wasmMs = [], d3Ms = [];
  let wasmSum = 0, jsSum = 0;
  for (let r = 0; r < RUNS; r++) {
    let t = performance.now();
    wasmSum = bench.aggregate();
    wasmMs.push(performance.now() - t);
    t = performance.now();
    const res = aggregateD3(cols, status, cold, trans, from, from + span, bucket);
    d3Ms.push(performance.now() - t);
    jsSum = res.buckets.reduce((a, b) => a + (b.execution.quantiles[2] ?? 0), 0)
      + (res.total.execution.quantiles[2] ?? 0) + (res.total.delay.quantiles[2] ?? 0);
  }
  // The feed's encoding: the same jobs as EMC2 columns and as JSON, decoded into a
  // ready JobStore in wasm (the copy from JS into wasm memory included).
  const columns = bench.encode_columns();
  const jsonBytes = bench.encode_json();
  const colMs = [], jsonMs = [];
  for (let r = 0; r < 3; r++) {
    let t = performance.now();
    const a = Bench.decode_columns(columns);
    colMs.push(performance.now() - t);
    t = performance.now();
    const b = Bench.decode_json(jsonBytes);
    jsonMs.push(performance.now() - t);
    if (a !== N || b !== N) throw new Error(`decoded ${a} / ${b} jobs, expected ${N}`);
  }
  const decode = {
    columnsBytes: columns.length, jsonBytes: jsonBytes.length,
    columnsMedianMs: median(colMs), jsonMedianMs: median(jsonMs), colMs, jsonMs,
  };

  // The job list: filter + sort of 100,000 jobs, each scenario a click in the list.
  const LIST_N = 100_000;
  const small = new Bench(LIST_N, 42);
  const list = small.list_names().map((name, i) => {
    const ms = [];
    let rows = 0;
    for (let r = 0; r < 9; r++) {
      const t = performance.now();
      rows = small.list(i);
      ms.push(performance.now() - t);
    }
    return { name, rows, medianMs: median(ms), ms };
  });
  small.free();

  const result = {
    list: { n: LIST_N, scenarios: list },
    decode,
    n: N, runs: RUNS, buckets: Math.ceil(span / bucket),
    wasmMedianMs: median(wasmMs), d3MedianMs: median(d3Ms),
    ratio: median(d3Ms) / median(wasmMs),
    wasmMs, d3Ms,
    bytesPerJob: bench.bytes_per_job(),
    checksumWasm: wasmSum, checksumD3: jsSum,
    checksumsAgree: Math.abs(wasmSum - jsSum) <= 1e-6 * Math.max(1, Math.abs(jsSum)),
    generateAndLoadMs: genMs,
    userAgent: navigator.userAgent,
  };
  document.getElementById('out').textContent = JSON.stringify(result, null, 2);
  window.__bench = result;
}

main().catch((e) => { window.__bench = { error: String(e && e.stack || e) }; });
