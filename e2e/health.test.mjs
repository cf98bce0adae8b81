// The first vertical slice: jobs submitted through the API show up in the panel's
// numbers and chart; failures are named on screen and recovered from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, health, openPanel, waitForText, waitForContains } from './harness.mjs';

test('jobs submitted through the API change the numbers and the chart is drawn', async () => {
  const server = await startServer({ workers: 1 });
  const { browser, page, problems } = await openPanel(`${server.url}/?refresh=300ms`);
  try {
    await waitForText(page, 'poll-state', 'Live');
    await waitForText(page, 'stat-in-queue', '0');
    await waitForText(page, 'stat-completed', '0');
    await waitForText(page, 'stat-workers-idle', '1');

    // One long job occupies the only worker, so the next three must wait in the queue.
    await submit(server.url, { sleepMs: 8000 });
    await waitForText(page, 'stat-in-progress', '1');
    await waitForText(page, 'stat-workers-running', '1');
    for (let i = 0; i < 3; i++) await submit(server.url, { sleepMs: 10 });
    await waitForText(page, 'stat-in-queue', '3');

    // Then everything completes (one of them as a failure) and the queue drains.
    await submit(server.url, { sleepMs: 10, fail: true });
    await waitForText(page, 'stat-completed', '4', 30_000);
    await waitForText(page, 'stat-failed', '1');
    await waitForText(page, 'stat-in-queue', '0');
    await waitForText(page, 'stat-workers-idle', '1');
    const api = await health(server.url);
    assert.equal(api.jobs.completed, 4);
    assert.equal(api.jobs.failed, 1);

    // The chart: one ECharts canvas with something drawn on it.
    const drawn = await page.evaluate(() => {
      const canvases = document.querySelectorAll('#health-chart canvas');
      if (canvases.length !== 1) return `expected 1 canvas, found ${canvases.length}`;
      const c = canvases[0];
      if (c.width < 100 || c.height < 100) return `canvas is ${c.width}x${c.height}`;
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) inked++;
      return inked > 1000 ? 'ok' : `only ${inked} pixels drawn`;
    });
    assert.equal(drawn, 'ok');
    // Updated in place: still one ECharts instance after many polls.
    const instances = await page.evaluate(() => document.querySelectorAll('[_echarts_instance_]').length);
    assert.equal(instances, 1);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a server that goes away is reported, the last numbers stay, and the panel recovers', async () => {
  let server = await startServer({ workers: 0 });
  const { browser, page, problems } = await openPanel(`${server.url}/?refresh=300ms`);
  try {
    await submit(server.url, { sleepMs: 10 });
    await submit(server.url, { sleepMs: 10 });
    await waitForText(page, 'stat-in-queue', '2');

    await server.stop();
    await waitForText(page, 'poll-state', 'Stale');
    await waitForContains(page, 'poll-error', 'Cannot reach the endpoint server');
    assert.equal(await page.textContent('[data-testid="stat-in-queue"]'), '2', 'last good data kept');

    // A new server on the same port (empty queue): the panel picks it up by itself.
    server = await startServer({ workers: 0, port: server.port });
    await waitForText(page, 'poll-state', 'Live', 40_000);
    await waitForText(page, 'stat-in-queue', '0');
    assert.equal(await page.$('[data-testid="poll-error"]'), null);

    // The only console errors are the refused connections we caused.
    const unexpected = problems.filter((p) => !p.includes('ERR_CONNECTION_REFUSED'));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('an unknown endpoint gets a message naming it, not a blank panel', async () => {
  const server = await startServer({ workers: 0 });
  const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=nope&refresh=300ms`);
  try {
    await waitForContains(page, 'poll-error', 'HTTP 404: no such endpoint: no endpoint named `nope`');
    assert.equal(await page.textContent('[data-testid="endpoint-id"]'), 'nope');
    const unexpected = problems.filter((p) => !p.includes('404'));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
