// wasm-chord's wasm build under Node (same bytes the browser runs, no worker): loads the
// model, warms up with a short generation, measures one greedy generation and prints
// one JSON line {engine, ppTokens, ppTps, tgTokens, tgTps, finish}.
//   node bench/browser/node-bench.mjs MODEL.gguf PROMPT_FILE TG [relaxed|simd|base] [N_CTX]
// (sets the V8 flags Node 20 needs for the relaxed build itself: web/core.js)
// LOAD_OPTIONS='{"repack":false}' adds Engine.load options (JSON).
// WASM_CHORD_PKG=DIR runs the wasm-bindgen output in DIR instead of web/pkg/<variant>
// (run.mjs uses a build that keeps the name section for profiles).
// (run.mjs calls it; add --cpu-prof before the script path to profile)
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';

import { relaxedSimdNodeFlags } from '../../web/core.js';
import { greedy, loadEngine } from './drive.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [model, promptFile, tgArg, variant = 'simd', nCtxArg = '512'] = process.argv.slice(2);
const tg = Number(tgArg);
if (variant === 'relaxed' && !relaxedSimdNodeFlags(setFlagsFromString)) {
  throw new Error('this Node does not run the relaxed build');
}

const dir = process.env.WASM_CHORD_PKG ?? join(ROOT, 'web', 'pkg', variant);
const wasm = await import(pathToFileURL(join(dir, 'wasm_chord.js')).href);
await wasm.default({ module_or_path: await readFile(join(dir, 'wasm_chord_bg.wasm')) });

const extra = JSON.parse(process.env.LOAD_OPTIONS ?? '{}');
const engine = loadEngine(wasm, await readFile(model), { nCtx: Number(nCtxArg), ...extra });
const prompt = await readFile(promptFile, 'utf8');
const run = (maxTokens) => greedy(engine, prompt, maxTokens);
run(8);
const r = run(tg);
const s = r.stats;
console.log(
  JSON.stringify({
    engine: `wasm-chord node ${process.version} (${variant}, ${wasm.isa()})`,
    ppTokens: s.promptTokens,
    ppTps: s.promptTokens / (s.promptMs / 1000),
    tgTokens: s.generatedTokens,
    tgTps: s.genTokPerS,
    finish: r.finish,
  }),
);
