// Endpoint Metrics for a portal page: mounts the panel into the page's
// <div id="endpoint-metrics"> (or any [data-endpoint-metrics] element).
//
//   <div id="endpoint-metrics"></div>
//   <script type="module" src="/tools/endpoint-metrics/embed.js"></script>
//
// Everything else (stylesheet, ECharts, the wasm module, config.json) is loaded from
// beside this file, so the bundle works under any path. No inline script or style is
// needed: it runs under script-src 'self' 'wasm-unsafe-eval' (docs/embedding.md).
// The engine's worker starts now, beside the page's wasm.
import './engine-start.js';

const base = new URL('./', import.meta.url);
const el = document.getElementById('endpoint-metrics') ?? document.querySelector('[data-endpoint-metrics]');
if (!el) throw new Error('Endpoint Metrics: add <div id="endpoint-metrics"></div> to the page before embed.js');
el.dataset.bundle = base.href;

const load = (tag, attrs) => new Promise((resolve, reject) => {
  const node = Object.assign(document.createElement(tag), attrs);
  node.onload = resolve;
  node.onerror = () => reject(new Error(`Endpoint Metrics: could not load ${attrs.href ?? attrs.src}`));
  document.head.append(node);
});

await Promise.all([
  load('link', { rel: 'stylesheet', href: new URL('main.css', base).href }),
  window.echarts ? null : load('script', { src: new URL('echarts.js', base).href }),
]);
const { default: init } = await import(new URL('metrics-panel.js', base).href);
await init({ module_or_path: new URL('metrics-panel_bg.wasm', base) });
