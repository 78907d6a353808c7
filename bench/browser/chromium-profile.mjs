// CPU profile of wasm-chord's decode in headless Chromium: runs one wasm-bindgen output
// that keeps function names (default bench/browser/out/pkg-prof, as browser_bench.sh
// PROFILE=1 makes it) on the page's main thread (direct.js), samples the measured
// generation with the DevTools profiler (the load and warm-up run unprofiled), and prints
// the functions with the most self time and the run's tok/s.
//   node bench/browser/chromium-profile.mjs [PKG_DIR_UNDER_REPO]
// Env: TG (128), MODEL, CHROMIUM.
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { openBrowser, ROOT } from './chromium.mjs';
import { topSelfTime } from './profile.mjs';

const TG = Number(process.env.TG ?? 128);
const MODEL = resolve(ROOT, process.env.MODEL ?? 'models/gemma-3-270m-q4_k_m.gguf');
const pkg = process.argv[2] ?? 'bench/browser/out/pkg-prof';

const browser = await openBrowser();
try {
  const page = await browser.newPage();
  await page.addScriptTag({ url: '/bench/browser/direct.js', type: 'module' });
  await page.waitForFunction(() => window.directReady === true);
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  const prompt = readFileSync(join(ROOT, 'bench', 'browser', 'prompt.txt'), 'utf8');
  const opts = { pkg: `/${pkg}`, model: `/${relative(ROOT, MODEL)}`, prompt, nCtx: 512 };
  await page.evaluate((o) => window.direct(o), opts);
  await cdp.send('Profiler.start');
  const stats = await page.evaluate((tg) => window.directRun(tg), TG);
  const { profile } = await cdp.send('Profiler.stop');
  console.log(`tg ${stats.genTokPerS.toFixed(1)} tok/s (${stats.generatedTokens} tokens)`);
  console.log(topSelfTime(profile, 20));
} finally {
  await browser.close();
}
