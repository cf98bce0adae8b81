// The portal's side of the postMessage bridge (docs/embedding.md): records the
// panel's state reports and errors, and offers setPanel({...}) to drive it.
window.__states = [];
window.__errors = [];
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
window.addEventListener('message', (ev) => {
  if (ev.origin !== location.origin) return;
  const m = ev.data;
  if (m?.type === 'endpoint-metrics:state') window.__states.push(m);
  if (m?.type === 'endpoint-metrics:error') window.__errors.push(m.message);
});
window.setPanel = (fields) => {
  const msg = { type: 'endpoint-metrics:set', ...fields };
  const frame = document.getElementById('panel');
  (frame ? frame.contentWindow : window).postMessage(msg, location.origin);
};
