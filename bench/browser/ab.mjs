// Interleaved A/B of wasm-chord builds in headless Chromium: each argument names a
// wasm-bindgen output directory under web/pkg/ (e.g. `relaxed`, or a copy of an older
// build placed there), run in turn ROUNDS times on a fresh page; prints tg/pp tok/s of
// every run and the median per build. For quick decisions between kernel variants;
// bench/browser_bench.sh is the report of record.
//   node bench/browser/ab.mjs relaxed relaxed-old
// Env: ROUNDS (3), TG (64), MODEL, CHROMIUM.
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { openBrowser, ROOT } from './chromium.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const TG = Number(process.env.TG ?? 64);
const MODEL = resolve(ROOT, process.env.MODEL ?? 'models/gemma-3-270m-q4_k_m.gguf');
const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: node bench/browser/ab.mjs BUILD [BUILD...] (dirs under web/pkg)');

const prompt = readFileSync(join(ROOT, 'bench', 'browser', 'prompt.txt'), 'utf8');
const tg = Object.fromEntries(builds.map((b) => [b, []]));
const browser = await openBrowser();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const variant of order) {
      const page = await browser.newPage();
      try {
        await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
        const r = await page.evaluate(
          (o) => window.bench.chord(o),
          { model: `/${relative(ROOT, MODEL)}`, prompt, tg: TG, nCtx: 512, variant },
        );
        tg[variant].push(r.tgTps);
        console.log(`${variant}: tg ${r.tgTps.toFixed(1)} pp ${r.ppTps.toFixed(1)} (${r.engine})`);
      } finally {
        await page.close();
      }
    }
  }
} finally {
  await browser.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const b of builds) console.log(`median ${b}: tg ${median(tg[b]).toFixed(1)}`);
