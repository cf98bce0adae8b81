// Makes the README's screenshots from the real release build:
//   node e2e/screenshot.mjs [seconds]
// seeds a day of history, starts endpoint-server on it with live traffic, opens the
// panel in headless Chromium in both themes at 1400x900 and 800x900, and saves PNGs
// under docs/ (screenshot-{light,dark}-{1400,800}.png; docs/screenshot.png = light 1400).
import { copyFileSync } from 'node:fs';
import { startServer, openPanel, seedDb } from './harness.mjs';

const seconds = Number(process.argv[2] ?? 8);
const db = await seedDb({ jobs: 60_000, span: '24h', workers: 8 });
const server = await startServer({ workers: 4, db, extraArgs: ['--traffic-rate', '1.5', '--seed', '7'] });
try {
  for (const theme of ['light', 'dark']) {
    for (const width of [1400, 800]) {
      const url = `${server.url}/?endpoint=local&range=6h&refresh=2s&theme=${theme}`;
      const { browser, page, problems } = await openPanel(url, { width, height: 900 });
      try {
        await page.waitForSelector('[data-testid="poll-state"]:text("Live")', { timeout: 30_000 });
        await page.waitForTimeout(seconds * 1000);
        const out = `docs/screenshot-${theme}-${width}.png`;
        await page.screenshot({ path: out });
        if (problems.length) throw new Error(problems.join('\n'));
        console.log(`wrote ${out}`);
      } finally {
        await browser.close();
      }
    }
  }
  copyFileSync('docs/screenshot-light-1400.png', 'docs/screenshot.png');
} finally {
  await server.stop();
}
