// wasm-chord's module worker: all model work runs here, off the page's main thread.
import { WorkerCore } from './core.js';

async function loadWasm(variant) {
  const dir = new URL(`./pkg/${variant}/`, import.meta.url);
  const pkg = await import(new URL('wasm_chord.js', dir).href);
  await pkg.default({ module_or_path: new URL('wasm_chord_bg.wasm', dir) });
  return pkg;
}

const core = new WorkerCore((msg) => self.postMessage(msg), loadWasm);
self.onmessage = (e) => core.handle(e.data);
