// Embedding in a portal (docs/embedding.md): the bundle under a sub-path, behind a
// reverse proxy that adds the API key, by iframe and mounted into the portal's page;
// postMessage control and state; a bad config.json's error screen; the portal's
// theme reaching the charts; and no console error, CSP violations included, under
// the documented Content-Security-Policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, openPanel, waitForText, openFirefox, eventually } from './harness.mjs';
import { CSP, startPortal } from './portal.mjs';

const KEY = 'portal-secret-key';
const SUB = '/tools/endpoint-metrics/';
const CONFIG = JSON.stringify({
  apiBase: '/tools/endpoint-metrics/api',
  endpoints: [{ id: 'local', label: 'Local (through the portal)' }],
  range: '15m',
  refresh: '2s',
  features: { demo: false, settings: false, cancel: false, purge: false },
});

async function setup() {
  const server = await startServer({ workers: 1, extraArgs: ['--api-key', KEY] });
  const portal = await startPortal({
    api: server.url,
    key: KEY,
    bundles: {
      [SUB]: CONFIG,
      '/tools/broken-metrics/': JSON.stringify({ range: '1h', features: { cancel: 'no' } }),
    },
  });
  const ids = [];
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${server.url}/v2/local/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ input: { sleepMs: i === 0 ? 120_000 : 50 } }),
    });
    ids.push((await res.json()).id);
  }
  return { server, portal, ids, stop: async () => { await portal.stop(); await server.stop(); } };
}

/** Requests the browser sent with an Authorization header (there must be none). */
function watchAuth(page) {
  const seen = [];
  page.on('request', (r) => { if (r.headers().authorization) seen.push(r.url()); });
  return seen;
}

test('by iframe under a sub-path, behind a key-adding proxy: live, compact, driven by postMessage, no CSP violation', async () => {
  const env = await setup();
  const { browser, page, problems } = await openPanel(`${env.portal.url}/portal/iframe.html`, { width: 1300, height: 1000 });
  const withAuth = watchAuth(page);
  try {
    const frame = page.frameLocator('#panel');
    await frame.locator('[data-testid="poll-state"]').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    await frame.locator('[data-testid="total-received"][data-value="4"]').waitFor({ timeout: 20_000 });
    // The feed was decoded and aggregated in the panel's worker, found beside the bundle.
    assert.equal(await frame.locator('[data-testid="poll-status"]').getAttribute('data-engine'), 'worker');
    assert.equal(await frame.locator('[data-testid="engine-fallback"]').count(), 0);
    // Compact: no header title; the configured endpoint and its label.
    assert.equal(await frame.locator('.topbar h1').isHidden(), true);
    assert.equal(await frame.locator('[data-testid="endpoint-picker"] option:checked').textContent(), 'Local (through the portal)');
    // The key: added by the proxy only.
    assert.deepEqual(withAuth, [], 'no request from the browser carries a key');
    assert.ok(env.portal.proxied.length > 0 && env.portal.proxied.every((p) => p.browserAuth === null));
    // State reports reach the portal.
    await page.waitForFunction(() => window.__states.some((s) => s.status === 'live' && s.endpoint === 'local'), null, { timeout: 10_000 });
    // postMessage control: range and tab, then the report says so.
    await page.evaluate(() => window.setPanel({ range: '6h', tab: 'jobs' }));
    await page.waitForFunction(() => window.__states.some((s) => s.range === '6h' && s.tab === 'jobs'), null, { timeout: 10_000 });
    assert.equal(await frame.locator('[data-testid="range-picker"]').inputValue(), '6h');
    await frame.locator(`[data-testid="job-row"][data-id="${env.ids[0]}"]`).waitFor({ timeout: 20_000 });
    // The detail (its timeline bars are positioned through the CSSOM, not inline styles).
    await frame.locator(`[data-testid="job-row"][data-id="${env.ids[1]}"] [data-testid="job-open"]`).click();
    await frame.locator('[data-testid="timeline"] [data-testid="step"]').first().waitFor({ timeout: 10_000 });
    // Queued behind the long job on the one worker; its /status came through the proxy.
    await frame.locator('[data-testid="raw-status"]').filter({ hasText: `"id": "${env.ids[1]}"` }).waitFor({ timeout: 10_000 });
    // Read-only by config: no cancel, no purge.
    assert.equal(await frame.locator('[data-testid="job-cancel"]').count(), 0);
    assert.equal(await frame.locator('[data-testid="bulk-cancel"]').count(), 0);
    assert.equal(await frame.locator('[data-testid="purge-queue"]').count(), 0);
    assert.equal(await frame.locator('[data-testid="tab-settings"]').count(), 0, 'Settings hidden by config');
    // A bad message is refused with the field named, and changes nothing.
    await page.evaluate(() => window.setPanel({ range: '9d' }));
    await page.waitForFunction(() => window.__errors.length > 0, null, { timeout: 10_000 });
    assert.match(await page.evaluate(() => window.__errors[0]), /^range: /);
    assert.equal(await frame.locator('[data-testid="range-picker"]').inputValue(), '6h');
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await env.stop();
  }
});

test('mounted into the portal page: the portal keeps its page, URL and styles; theme variables reach the charts', async () => {
  const env = await setup();
  const { browser, page, problems } = await openPanel(`${env.portal.url}/portal/direct.html`, { width: 1300, height: 1000 });
  const withAuth = watchAuth(page);
  try {
    await waitForText(page, 'poll-state', 'Live', 30_000);
    await page.waitForSelector('[data-testid="total-received"][data-value="4"]', { timeout: 20_000 });
    // Inside the portal's element, the portal's header untouched above it.
    assert.equal(await page.evaluate(() => document.querySelector('#endpoint-metrics .topbar') !== null), true);
    assert.equal(await page.textContent('.portal-header'), 'Acme portal · GPU endpoints');
    assert.equal(new URL(page.url()).search, '', "the portal's URL is left alone");
    // The panel's stylesheet does not restyle the portal.
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).margin), '8px');
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.portal-header')).fontFamily), 'sans-serif');
    // The portal's theme: the accent on the active tab, chart colour 1 in ECharts, the font.
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('[data-testid="tab-metrics"]')).backgroundColor), 'rgb(11, 61, 46)');
    const color = await page.evaluate(() => {
      const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="chart-requests"] .chart'));
      return chart.getOption().series.find((s) => s.name === 'received').color;
    });
    assert.equal(color, 'rgb(200, 0, 100)');
    assert.match(await page.evaluate(() => getComputedStyle(document.querySelector('.em-app')).fontFamily), /Georgia/);
    // A tooltip under the strict CSP (its swatches are classes, not inline styles).
    const box = await page.locator('[data-testid="chart-execution"] .chart').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.waitForTimeout(300);
    // postMessage in the same window.
    await page.evaluate(() => window.setPanel({ range: '1h', theme: 'dark' }));
    await page.waitForFunction(() => window.__states.some((s) => s.range === '1h' && s.theme === 'dark'), null, { timeout: 10_000 });
    assert.equal(await page.getAttribute('#endpoint-metrics', 'data-theme'), 'dark');
    assert.equal(await page.getAttribute('html', 'data-theme'), null, "the portal's <html> is not themed");
    assert.deepEqual(withAuth, []);
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await env.stop();
  }
});

test('a bad config.json stops the panel with an error screen naming the field', async () => {
  const env = await setup();
  const { browser, page, problems } = await openPanel(`${env.portal.url}/portal/broken.html`);
  try {
    const frame = page.frameLocator('#panel');
    await frame.locator('[data-testid="config-error"]').waitFor({ timeout: 20_000 });
    assert.equal(await frame.locator('[data-testid="config-error-field"]').textContent(), 'features.cancel');
    assert.match(await frame.locator('[data-testid="config-error-message"]').textContent(),
      /^config\.json, field `features\.cancel`: invalid type: string "no", expected a boolean/);
    assert.equal(await frame.locator('[data-testid="metrics"]').count(), 0, 'nothing else started');
    assert.equal(env.portal.proxied.length, 0, 'no request to the endpoint');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await env.stop();
  }
});

/** The portal with the Demo's bundle under /tools/demo-metrics/ (refreshing every second). */
async function demoPortal(csp) {
  const server = await startServer({ workers: 0 });
  const config = JSON.stringify({ refresh: '1s' });
  const portal = await startPortal({ api: server.url, key: KEY, bundles: { '/tools/demo-metrics/': config }, csp });
  return { portal, stop: async () => { await portal.stop(); await server.stop(); } };
}

test('the Demo runs in its Web Worker, found beside embed.js, in an iframe and mounted in the page, under the CSP', async () => {
  const env = await demoPortal();
  const { browser, page, problems } = await openPanel(`${env.portal.url}/portal/demo.html`, { width: 1300, height: 1800 });
  try {
    const frame = page.frameLocator('#demo-frame');
    for (const where of [frame.locator(':root'), page.locator('#endpoint-metrics')]) {
      await where.locator('[data-testid="poll-state"]').filter({ hasText: 'Live' }).waitFor({ timeout: 40_000 });
      assert.equal(await where.locator('[data-testid="demo-where"]').textContent(), 'in a background worker');
      const received = Number(await where.locator('[data-testid="total-received"]').getAttribute('data-value'));
      assert.ok(received > 200, `a day of Demo history: ${received} received`);
    }
    // One worker per panel, from the bundle's folder (not the portal page's).
    const urls = page.workers().map((w) => new URL(w.url()).pathname);
    assert.ok(urls.length === 2 && urls.every((u) => u === '/tools/demo-metrics/engine_loader.js'), JSON.stringify(urls));
    // And it keeps answering: refreshes after the first render.
    await page.waitForFunction(() => performance.getEntriesByName('em-refresh').length >= 3, null, { timeout: 20_000 });
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await env.stop();
  }
});

test('a policy that forbids workers: the Demo runs on the page instead and says why', async () => {
  const env = await demoPortal(`${CSP}; worker-src 'none'`);
  const { browser, page, problems } = await openPanel(`${env.portal.url}/portal/demo.html`, { width: 1300, height: 1800 });
  try {
    const panel = page.locator('#endpoint-metrics');
    await panel.locator('[data-testid="poll-state"]').filter({ hasText: 'Live' }).waitFor({ timeout: 40_000 });
    assert.match(await panel.locator('[data-testid="demo-where"]').textContent(), /^on this page \(its background worker .+\)$/);
    // The status line says where the numbers are computed, and why.
    assert.equal(await panel.locator('[data-testid="poll-status"]').getAttribute('data-engine'), 'page');
    assert.match(await panel.locator('[data-testid="engine-fallback"]').textContent(), /^computing on this page \(its background worker .+\)$/);
    const received = Number(await panel.locator('[data-testid="total-received"]').getAttribute('data-value'));
    assert.ok(received > 200, `the Demo on the page: ${received} received`);
    assert.deepEqual(page.workers(), []);
    // And it keeps answering on the page: refreshes after the first render.
    await page.waitForFunction(() => performance.getEntriesByName('em-refresh').length >= 3, null, { timeout: 20_000 });
    // The browser reports the refused worker; nothing else goes wrong.
    assert.ok((await page.evaluate(() => window.__csp)).some((v) => v.startsWith('worker-src')));
    assert.deepEqual(problems.filter((p) => !/worker-src|Content Security Policy/.test(p)), []);
  } finally {
    await browser.close();
    await env.stop();
  }
});

test('in Firefox too: the Demo runs in its Web Worker, in an iframe and mounted in the page, under the CSP', async () => {
  const env = await demoPortal();
  const ff = await openFirefox(`${env.portal.url}/portal/demo.html`, { width: 1300, height: 1800 });
  try {
    // Both panels: the iframe's document (same origin) and the one in the page.
    const state = () => ff.run(`
      const docs = [document.getElementById('demo-frame').contentDocument, document];
      return docs.map((d) => ({
        poll: d?.querySelector('[data-testid="poll-state"]')?.textContent ?? null,
        where: d?.querySelector('[data-testid="demo-where"]')?.textContent ?? null,
        received: Number(d?.querySelector('[data-testid="total-received"]')?.dataset.value ?? 0),
      }));`);
    const both = await eventually('both panels Live', async () => {
      const s = await state();
      return s.every((p) => p.poll === 'Live' && p.received > 0) && s;
    }, 60_000);
    for (const p of both) {
      assert.equal(p.where, 'in a background worker', JSON.stringify(both));
      assert.ok(p.received > 200, JSON.stringify(both));
    }
    assert.deepEqual(await ff.run('return window.__csp'), []);
  } finally {
    await ff.close();
    await env.stop();
  }
});

test('in Firefox too: an endpoint behind the portal is fetched, decoded and aggregated in the Web Worker', async () => {
  const env = await setup();
  const ff = await openFirefox(`${env.portal.url}/portal/iframe.html`, { width: 1300, height: 1000 });
  try {
    const state = () => ff.run(`
      const d = document.getElementById('panel').contentDocument;
      return {
        poll: d?.querySelector('[data-testid="poll-state"]')?.textContent ?? null,
        engine: d?.querySelector('[data-testid="poll-status"]')?.dataset.engine ?? null,
        received: d?.querySelector('[data-testid="total-received"]')?.dataset.value ?? null,
      };`);
    const s = await eventually('the portal\'s endpoint Live with its 4 jobs', async () => {
      const s = await state();
      return s.poll === 'Live' && s.received === '4' && s;
    }, 60_000);
    assert.equal(s.engine, 'worker', JSON.stringify(s));
    assert.deepEqual(await ff.run('return window.__csp'), []);
  } finally {
    await ff.close();
    await env.stop();
  }
});
