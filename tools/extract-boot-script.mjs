// Trunk post-build hook (Trunk.toml): moves the inline module script trunk writes
// into index.html to ./boot.js, so the bundle runs under a Content-Security-Policy
// without 'unsafe-inline' (script-src 'self' 'wasm-unsafe-eval'). Also writes
// embed.js's neighbour names stable (Trunk.toml: filehash = false).
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
