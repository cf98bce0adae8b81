// The README's screenshots in Firefox (ESR, headless) through geckodriver's WebDriver
// API (playwright drives only its own Firefox builds):
//   node e2e/screenshot-firefox.mjs [seconds]
// seeds a day of history, starts endpoint-server on it with live traffic, and saves
// docs/screenshot-firefox-{light,dark}-1400.png (or under $E2E_SHOTS).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, seedDb, openFirefox, eventually } from './harness.mjs';

const seconds = Number(process.argv[2] ?? 8);
const outDir = process.env.E2E_SHOTS ?? 'docs';
const db = await seedDb({ jobs: 60_000, span: '24h', workers: 8 });
const server = await startServer({ workers: 4, db, extraArgs: ['--traffic-rate', '1.5', '--seed', '7'] });
try {
  for (const theme of ['light', 'dark']) {
    const ff = await openFirefox(`${server.url}/?endpoint=local&range=6h&refresh=2s&theme=${theme}`);
    try {
      await eventually('the panel is Live', () => ff.run(
        'return document.querySelector(\'[data-testid="poll-state"]\')?.textContent === "Live"'));
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const out = join(outDir, `screenshot-firefox-${theme}-1400.png`);
      writeFileSync(out, await ff.screenshot());
      console.log(`wrote ${out}`);
    } finally {
      await ff.close();
    }
  }
} finally {
  await server.stop();
}
