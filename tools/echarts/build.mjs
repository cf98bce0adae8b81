// Bundles tools/echarts/entry.js into target/echarts/echarts.js (an IIFE defining the
// global `echarts`), with esbuild from node_modules (package-lock.json). Run by trunk
// before every build (Trunk.toml, pre_build), so `trunk build` and `trunk serve` pick
// it up; ECharts' licence comments are kept at the end of the file.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outfile = join(root, 'target', 'echarts', 'echarts.js');

try {
  await build({
    entryPoints: [join(root, 'tools', 'echarts', 'entry.js')],
    outfile,
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: 'echarts',
    target: 'es2017',
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'eof',
    logLevel: 'warning',
  });
} catch (e) {
  console.error(`building ECharts failed (is node_modules installed? run cargo xtask setup): ${e.message}`);
  process.exit(1);
}
