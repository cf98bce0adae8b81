// A small reverse proxy in front of endpoint-server that can break the metrics feed on
// demand: the panel is loaded through it, so every fault reaches the real browser
// exactly as a broken network or server would deliver it.
import http from 'node:http';

/**
 * Job actions (/cancel/, /retry/, /purge-queue) have their own mode (setActionMode):
 * pass | hang (answered 504 when the mode changes) | 401 | 404 | 429 | 500 | 503.
 *
 * Modes for requests under /metrics/ (everything else always passes):
 * pass | down (connection dropped) | hang (never answers) | 401 | 403 | 404 | 429 |
 * 500 | 503 | malformed (200, not JSON) | truncated (200, JSON cut short) |
 * invalid (200, a record that fails validation)
 */
export async function startFaultProxy(target) {
  let mode = 'pass';
  let actionMode = 'pass';
  const hits = { metrics: 0, actions: 0 };
  const hung = new Set();
  const hungActions = new Set();
  const server = http.createServer((req, res) => {
    const isFeed = req.url.includes('/metrics/');
    const isAction = /\/(cancel|retry)\/|\/purge-queue/.test(req.url);
    if (isFeed) hits.metrics++;
    if (isAction) hits.actions++;
    const fault = isFeed ? mode : isAction ? `action-${actionMode}` : 'pass';
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };
    switch (fault) {
      case 'down': req.socket.destroy(); return;
      case 'hang': hung.add(res); return;
      case '401': return send(401, '{"error":"missing or invalid API key"}');
      case '403': return send(403, '{"error":"key may not read endpoint `local`"}');
      case '404': return send(404, '{"error":"no endpoint named `local`"}');
      case '429': return send(429, '{"error":"rate limit of /metrics exceeded"}', { 'retry-after': '1' });
      case '500': return send(500, '{"error":"internal error (see the server log)"}');
      case '503': return send(503, '<html>Service Unavailable</html>', { 'content-type': 'text/html' });
      case 'action-hang': hungActions.add(res); return;
      case 'action-401': return send(401, '{"error":"missing or invalid API key"}');
      case 'action-404': return send(404, '{"error":"unknown job"}');
      case 'action-429': return send(429, '{"error":"rate limit of /cancel exceeded (100 requests per 10 s): retry in 3 s"}', { 'retry-after': '3' });
      case 'action-500': return send(500, '{"error":"internal error (see the server log)"}');
      case 'action-503': return send(503, '<html>Service Unavailable</html>', { 'content-type': 'text/html' });
      case 'malformed': return send(200, 'this is not json');
      case 'truncated': return send(200, '{"cursor":12,"jobs":[{"id":"a","status":"COMP');
      case 'invalid': return send(200, JSON.stringify({
        cursor: 1e9, transitions: [], coldStarts: [], deliveries: [],
        jobs: [{ id: 'bad-job', status: 'COMPLETED', submittedAt: Date.now() - 5000,
          startedAt: Date.now() - 4000, completedAt: Date.now(), delayTime: -40, executionTime: 4000 }],
      }));
      default: break;
    }
    const t = new URL(target);
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    hits,
    setMode(m) {
      mode = m;
      if (m !== 'hang') { for (const res of hung) res.destroy(); hung.clear(); }
    },
    setActionMode(m) {
      actionMode = m;
      // Held actions get an answer (a dropped connection would make the browser
      // send the request again by itself).
      if (m !== 'hang') {
        for (const res of hungActions) {
          res.writeHead(504, { 'content-type': 'application/json' });
          res.end('{"error":"the upstream did not answer in time"}');
        }
        hungActions.clear();
      }
    },
    async stop() {
      for (const res of [...hung, ...hungActions]) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
