// Two endpoint-server instances over one PostgreSQL (issue 15): the panel opened
// through either shows the same numbers, for jobs sent through both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, submit, openPanel, waitForText } from './harness.mjs';
import { startPostgres } from './postgres.mjs';

const SHOWN = ['total-received', 'total-completed', 'total-failed', 'total-cancelled', 'total-timed-out',
  'cold-start-count', 'execution-p70', 'execution-p90', 'execution-p98', 'delay-p70', 'delay-p90',
  'delay-p98', 'cold-start-p70', 'cold-start-p90', 'cold-start-p98'];

test('the panel shows the same numbers through either of two instances', async () => {
  const pg = await startPostgres();
  const servers = [];
  const browsers = [];
  try {
    const a = await startServer({ workers: 3, db: pg.url });
    servers.push(a);
    // A takes the endpoint before B starts (its health answers from its own model).
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${a.url}/v2/local/health`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('A did not take the endpoint');
      await new Promise((r) => setTimeout(r, 100));
    }
    const b = await startServer({ workers: 3, db: pg.url });
    servers.push(b);
    const n = 30;
    for (let i = 0; i < n; i++) {
      await submit(i % 2 ? b.url : a.url, { sleepMs: 20 + ((i * 37) % 300), fail: i % 7 === 3 });
    }
    // Settled, asked through B (forwarded to the leader).
    for (const end = Date.now() + 60_000; ;) {
      const h = await (await fetch(`${b.url}/v2/local/health`)).json();
      if (h.jobs.completed + h.jobs.failed >= n && h.jobs.inQueue === 0 && h.jobs.inProgress === 0) break;
      if (Date.now() > end) throw new Error(`jobs did not finish: ${JSON.stringify(h.jobs)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const shown = [];
    for (const server of [a, b]) {
      const { browser, page, problems } = await openPanel(`${server.url}/?endpoint=local&range=15m&refresh=off&tz=utc`);
      browsers.push(browser);
      await waitForText(page, 'total-received', String(n));
      const values = {};
      for (const id of SHOWN) values[id] = await page.getAttribute(`[data-testid="${id}"]`, 'data-value');
      assert.deepEqual(problems, []);
      shown.push(values);
    }
    assert.ok(Number(shown[0]['total-failed']) > 0, JSON.stringify(shown[0]));
    assert.ok(shown[0]['execution-p98'] !== null, JSON.stringify(shown[0]));
    assert.deepEqual(shown[1], shown[0], 'B shows what A shows');
  } finally {
    for (const br of browsers) await br.close();
    for (const s of servers) await s.stop();
    await pg.stop();
  }
});
