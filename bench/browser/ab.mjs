// Interleaved A/B of wasm-chord builds in headless Chromium: each argument names a
// wasm-bindgen output directory under web/pkg/ (e.g. `relaxed`, or a copy of an older
// build placed there), run in turn ROUNDS times on a fresh page; prints tg/pp tok/s of
// every run and the median per build. For quick decisions between kernel variants;
// bench/browser_bench.sh is the report of record.
//   node bench/browser/ab.mjs relaxed relaxed-old
// Env: ROUNDS (3), TG (64), MODEL, CHROMIUM.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startServer } from '../../web/serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const TG = Number(process.env.TG ?? 64);
const MODEL = resolve(ROOT, process.env.MODEL ?? 'models/gemma-3-270m-q4_k_m.gguf');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: node bench/browser/ab.mjs BUILD [BUILD...] (dirs under web/pkg)');

const server = await startServer({ port: 0, root: ROOT, models: join(ROOT, 'models') });
const base = `http://127.0.0.1:${server.address().port}`;
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'wasm-chord-ab-')), {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const prompt = (await import('node:fs')).readFileSync(join(HERE, 'prompt.txt'), 'utf8');
const tg = Object.fromEntries(builds.map((b) => [b, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const variant of order) {
      const page = await context.newPage();
      try {
        await page.goto(`${base}/bench/browser/index.html`);
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
  await context.close();
  server.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const b of builds) console.log(`median ${b}: tg ${median(tg[b]).toFixed(1)}`);
