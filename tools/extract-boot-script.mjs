// Trunk post-build hook (Trunk.toml): moves the inline module script trunk writes
// into index.html to ./boot.js, so the bundle runs under a Content-Security-Policy
// without 'unsafe-inline' (script-src 'self' 'wasm-unsafe-eval'); and has the
// engine's worker loader keep the questions that come before the engine listens.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error('TRUNK_STAGING_DIR is not set: run as a trunk post_build hook');
const file = join(dir, 'index.html');
const html = readFileSync(file, 'utf8');
const re = /<script type="module">([\s\S]*?)<\/script>/;
const m = html.match(re);
if (!m) throw new Error('no inline module script in index.html: did trunk change its output?');
writeFileSync(join(dir, 'boot.js'), `${m[1].trim()}\n`);
writeFileSync(file, html.replace(re, '<script type="module" src="./boot.js"></script>'));

// The engine's worker loader: the page posts its first questions (the first
// snapshot) while the engine's wasm still loads; a dedicated worker delivers them as
// soon as this script has run, so they are kept in self.emEarly until the engine
// listens (src/feed/engine.rs) instead of being lost.
const loader = join(dir, 'engine_loader.js');
const shim = readFileSync(loader, 'utf8');
if (!shim.includes('wasm_bindgen(')) throw new Error(`unexpected engine_loader.js from trunk: ${shim}`);
writeFileSync(loader, `self.emEarly = [];\nself.onmessage = (e) => self.emEarly.push(e);\n${shim}`);
