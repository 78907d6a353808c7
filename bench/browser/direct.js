// The wasm-bindgen module of one build run on the page's main thread (no worker), as
// node-bench.mjs runs it under Node: for CPU profiles of Chromium's own wasm code
// (chromium-profile.mjs). window.direct({ pkg, model, prompt, tg, nCtx }) loads the
// model and warms up with 8 tokens; then window.directRun(tg) generates `tg` greedy tokens
// and returns the stats (two calls, so that a profiler can start in between).
async function direct({ pkg, model, prompt, nCtx }) {
  const wasm = await import(`${pkg}/wasm_chord.js`);
  await wasm.default({ module_or_path: `${pkg}/wasm_chord_bg.wasm` });
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const buffer = new wasm.ModelBuffer(bytes.byteLength);
  const CHUNK = 1 << 20;
  for (let off = 0; off < bytes.byteLength; off += CHUNK) {
    buffer.write(off, bytes.subarray(off, Math.min(off + CHUNK, bytes.byteLength)));
  }
  const engine = wasm.Engine.load(buffer, JSON.stringify({ nCtx }));
  const run = (maxTokens) => {
    engine.reset();
    engine.generate_start(prompt, JSON.stringify({ maxTokens, temperature: 0 }));
    for (;;) {
      const step = JSON.parse(engine.next_piece());
      if (step.done) return step;
    }
  };
  run(8);
  window.directRun = (tg) => run(tg).stats;
}
window.direct = direct;
window.directReady = true;
