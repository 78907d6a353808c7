// The wasm-bindgen engine driven directly (no worker, no public JS API), shared by the
// Node bench (node-bench.mjs) and the Chromium main-thread profile page (direct.js).

/** An `Engine` over the model `bytes` (Uint8Array) with load `options` (object). */
export function loadEngine(wasm, bytes, options) {
  const buffer = new wasm.ModelBuffer(bytes.byteLength);
  buffer.write(0, bytes);
  return wasm.Engine.load(buffer, JSON.stringify(options));
}

/** One greedy generation of up to `maxTokens` from an empty context; its last step. */
export function greedy(engine, prompt, maxTokens) {
  engine.reset();
  engine.generate_start(prompt, JSON.stringify({ maxTokens, temperature: 0 }));
  for (;;) {
    const step = JSON.parse(engine.next_piece());
    if (step.done) return step;
  }
}
