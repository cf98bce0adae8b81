// A small portal for the embedding tests: serves host pages (e2e/portal/), the
// panel's bundle under sub-paths with a config.json of the test's choosing, and a
// reverse proxy to endpoint-server that adds the API key, so no key reaches the
// browser. Every answer carries the Content-Security-Policy docs/embedding.md
// documents.
import { createServer, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

export const CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "frame-ancestors 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json',
};

/**
 * Starts the portal on 127.0.0.1. `bundles` maps a sub-path (e.g. '/tools/endpoint-metrics/')
 * to the config.json text served there (null: none, so 404); `api` is the endpoint-server
 * URL and `key` the key the proxy adds under `<sub-path>api/`; `csp` the policy every answer
 * carries (default: the documented one).
 */
export async function startPortal({ dist = 'dist', bundles, api, key, csp = CSP }) {
  const proxied = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://portal');
    const send = (status, body, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'content-security-policy': csp });
      res.end(body);
    };
    for (const [prefix, config] of Object.entries(bundles)) {
      if (!url.pathname.startsWith(prefix)) continue;
      const rest = url.pathname.slice(prefix.length);
      if (rest.startsWith('api/')) {
        // The portal's reverse proxy: the browser never sees the key.
        proxied.push({ path: rest, browserAuth: req.headers.authorization ?? null });
        const target = new URL(`/${rest.slice('api/'.length)}${url.search}`, api);
        const headers = { ...req.headers, host: target.host, authorization: `Bearer ${key}` };
        const up = request(target, { method: req.method, headers }, (r) => {
          res.writeHead(r.statusCode, { ...r.headers, 'content-security-policy': csp });
          r.pipe(res);
        });
        up.on('error', (e) => send(502, `proxy: ${e.message}`));
        req.pipe(up);
        return;
      }
      if (rest === 'config.json') {
        return config === null ? send(404, 'no config') : send(200, config, 'application/json');
      }
      const file = normalize(rest === '' ? 'index.html' : rest).replace(/^(\.\.[/\\])+/, '');
      try {
        return send(200, await readFile(join(dist, file)), TYPES[extname(file)] ?? 'application/octet-stream');
      } catch {
        return send(404, 'not found');
      }
    }
    if (url.pathname.startsWith('/portal/')) {
      const file = normalize(url.pathname.slice('/portal/'.length)).replace(/^(\.\.[/\\])+/, '');
      try {
        return send(200, await readFile(join('e2e/portal', file)), TYPES[extname(file)] ?? 'text/plain');
      } catch {
        return send(404, 'not found');
      }
    }
    send(404, 'not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    proxied,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
