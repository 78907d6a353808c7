// The wasm-bindgen module of one build run on the page's main thread (no worker), as
// node-bench.mjs runs it under Node: for CPU profiles of Chromium's own wasm code
// (chromium-profile.mjs). window.direct({ pkg, model, prompt, nCtx }) loads the
// model and warms up with 8 tokens; then window.directRun(tg) generates `tg` greedy tokens
// and returns the stats (two calls, so that a profiler can start in between).
import { greedy, loadEngine } from './drive.mjs';

async function direct({ pkg, model, prompt, nCtx }) {
  const wasm = await import(`${pkg}/wasm_chord.js`);
  await wasm.default({ module_or_path: `${pkg}/wasm_chord_bg.wasm` });
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const engine = loadEngine(wasm, bytes, { nCtx });
  const run = (maxTokens) => greedy(engine, prompt, maxTokens);
  run(8);
  window.directRun = (tg) => run(tg).stats;
}
window.direct = direct;
window.directReady = true;
