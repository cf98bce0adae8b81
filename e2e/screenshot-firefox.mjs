// The README's screenshots in Firefox (ESR, headless) through geckodriver's WebDriver
// API (playwright drives only its own Firefox builds):
//   node e2e/screenshot-firefox.mjs [seconds]
// seeds a day of history, starts endpoint-server on it with live traffic, and saves
// docs/screenshot-firefox-{light,dark}-1400.png (or under $E2E_SHOTS).
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { startServer, seedDb } from './harness.mjs';

const seconds = Number(process.argv[2] ?? 8);
const outDir = process.env.E2E_SHOTS ?? 'docs';
const gecko = process.env.E2E_GECKODRIVER
  ?? [join(homedir(), '.cargo/bin/geckodriver'), '/usr/local/bin/geckodriver'].find(existsSync)
  ?? 'geckodriver';
const firefox = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find(existsSync);

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

async function wd(base, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method, headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${JSON.stringify(j.value ?? j)}`);
  return j.value;
}

const port = await freePort();
const driver = spawn(gecko, ['--host', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' });
const base = `http://127.0.0.1:${port}`;
const db = await seedDb({ jobs: 60_000, span: '24h', workers: 8 });
const server = await startServer({ workers: 4, db, extraArgs: ['--traffic-rate', '1.5', '--seed', '7'] });
try {
  for (let i = 0; i < 50; i++) {
    try { await wd(base, 'GET', '/status'); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  for (const theme of ['light', 'dark']) {
    const s = await wd(base, 'POST', '/session', {
      capabilities: { alwaysMatch: { 'moz:firefoxOptions': { binary: firefox, args: ['-headless', '-width=1400', '-height=900'] } } },
    });
    const sid = s.sessionId;
    try {
      await wd(base, 'POST', `/session/${sid}/window/rect`, { width: 1400, height: 900 });
      await wd(base, 'POST', `/session/${sid}/url`, { url: `${server.url}/?endpoint=local&range=6h&refresh=2s&theme=${theme}` });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const state = await wd(base, 'POST', `/session/${sid}/execute/sync`, {
          script: 'return document.querySelector(\'[data-testid="poll-state"]\')?.textContent', args: [],
        });
        if (state === 'Live') break;
        if (Date.now() > deadline) throw new Error(`poll-state still ${state}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const png = await wd(base, 'GET', `/session/${sid}/screenshot`);
      const out = join(outDir, `screenshot-firefox-${theme}-1400.png`);
      writeFileSync(out, Buffer.from(png, 'base64'));
      console.log(`wrote ${out}`);
    } finally {
      await wd(base, 'DELETE', `/session/${sid}`).catch(() => {});
    }
  }
} finally {
  await server.stop();
  driver.kill();
}
