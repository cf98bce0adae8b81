// Starts the panel's engine (its Web Worker: src/feed/engine.rs) as soon as the page
// runs, beside the page's own wasm rather than after it: the first snapshot is asked
// for once config.json is read, and the engine has loaded by then. The page's link
// adopts this worker (src/feed/link.rs) and hears what it said before that. Loaded
// first by index.html and imported by embed.js: the worker is found beside it.
try {
  const worker = new Worker(new URL('./engine_loader.js', import.meta.url));
  const early = { worker, messages: [], error: null };
  worker.onmessage = (e) => early.messages.push(e);
  worker.onerror = (e) => { early.error = e.message || 'could not load engine_loader.js'; };
  self.emEngine = early;
} catch {
  // Refused (a Content-Security-Policy without worker-src, say): the page's link
  // tries again when it starts, and says why.
}
