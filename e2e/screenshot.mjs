// Makes the README's screenshot from the real release build:
//   node e2e/screenshot.mjs [out.png] [seconds]
// starts endpoint-server with simulated traffic, opens the panel in headless Chromium,
// lets it poll for a while so the chart has a history, and saves a PNG.
import { startServer, openPanel } from './harness.mjs';

const out = process.argv[2] ?? 'docs/screenshot.png';
const seconds = Number(process.argv[3] ?? 60);
const server = await startServer({ workers: 3, extraArgs: ['--traffic-rate', '2', '--seed', '7'] });
const { browser, page, problems } = await openPanel(`${server.url}/?refresh=1s`);
try {
  await page.waitForTimeout(seconds * 1000);
  await page.screenshot({ path: out });
  if (problems.length) throw new Error(problems.join('\n'));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
