// The browser side of the benchmark: one run of wasm-chord (its public API, engine in a
// module worker) or of wllama (llama.cpp in wasm, single-thread build, CPU only) on the
// same GGUF, prompt and generation length. Each run loads the model, warms the JIT up
// with a short generation, then measures one generation; both report the engines' own
// prefill (pp) and decode (tg) timings. Served from the repository root (run.mjs).
import { WasmChord } from '/web/wasm-chord.js';
import { Wllama } from '/bench/browser/node_modules/@wllama/wllama/esm/index.js';

const log = (s) => {
  document.getElementById('log').textContent += `${s}\n`;
};

/** opts: { model (URL), prompt, tg, nCtx, variant? } */
async function chord({ model, prompt, tg, nCtx, variant }) {
  const engine = await WasmChord.load(model, { nCtx, ...(variant ? { variant } : {}) });
  try {
    const info = await engine.info();
    const run = async (maxTokens) => {
      await engine.reset();
      for await (const _ of engine.generate(prompt, { maxTokens, temperature: 0 })) {
        // drain
      }
      return engine.lastResult;
    };
    await run(8);
    const r = await run(tg);
    const s = r.stats;
    log(`wasm-chord ${info.isa}/${info.variant}: ${JSON.stringify(s)}`);
    return {
      engine: `wasm-chord (${info.variant}, ${info.isa})`,
      ppTokens: s.promptTokens,
      ppTps: s.promptTokens / (s.promptMs / 1000),
      tgTokens: s.generatedTokens,
      tgTps: s.genTokPerS,
      finish: r.finish,
    };
  } finally {
    engine.dispose();
  }
}

async function wllama({ model, prompt, tg, nCtx }) {
  const base = '/bench/browser/node_modules/@wllama/wllama/esm';
  const w = new Wllama({ default: `${base}/wasm/wllama.wasm` }, { suppressNativeLog: true });
  await w.loadModelFromUrl(new URL(model, location.href).href, {
    n_threads: 1,
    n_gpu_layers: 0,
    n_ctx: nCtx,
    useCache: false,
  });
  try {
    const run = (maxTokens) =>
      w.createCompletion({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, cache_prompt: false });
    await run(8);
    const r = await run(tg);
    const t = r.timings;
    log(`wllama ${Wllama.getLibllamaVersion?.() ?? ''} threads=${w.getNumThreads()}: ${JSON.stringify(t)}`);
    return {
      engine: `wllama ${Wllama.getLibllamaVersion?.() ?? ''} (${w.isMultithread() ? 'multi' : 'single'}-thread)`,
      ppTokens: t.prompt_n,
      ppTps: t.prompt_per_second,
      tgTokens: t.predicted_n,
      tgTps: t.predicted_per_second,
      finish: r.choices?.[0]?.finish_reason ?? null,
    };
  } finally {
    await w.exit();
  }
}

window.bench = { chord, wllama };
window.benchReady = true;
