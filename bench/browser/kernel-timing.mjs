// Runs the kernels crate's ignored timing tests (e.g. `time_rows_against_row_dots`) in
// headless Chromium, whose V8 is the one the browser numbers depend on (it lowers the
// relaxed dot to AVX-VNNI where the CPU has it; Node 20's does not): builds the release
// test harness for wasm32-wasip1 (relaxed build unless VARIANT=simd) and prints its output.
//   node bench/browser/kernel-timing.mjs [TEST_FILTER]   (default: time_rows)
// Env: VARIANT (relaxed | simd), CHROMIUM.
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';

import { openBrowser, ROOT } from './chromium.mjs';

const VARIANT = process.env.VARIANT ?? 'relaxed';
const filter = process.argv[2] ?? 'time_rows';
const features = VARIANT === 'simd' ? '+simd128' : '+simd128,+relaxed-simd';

const built = execFileSync('cargo', ['test', '--release', '-p', 'kernels', '--lib', '--target', 'wasm32-wasip1',
  '--no-run', '--message-format=json'], {
  cwd: ROOT,
  encoding: 'utf8',
  env: { ...process.env, RUSTFLAGS: `-C target-feature=${features}`, CARGO_TARGET_DIR: join(ROOT, 'target', 'wasi', `bench-${VARIANT}`) },
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 1 << 28,
});
const wasm = built.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  .filter((m) => m.reason === 'compiler-artifact' && m.profile?.test && m.target?.name === 'kernels')
  .flatMap((m) => m.filenames).find((f) => f.endsWith('.wasm'));
if (!wasm) throw new Error('no kernels test harness built');

const browser = await openBrowser();
try {
  const page = await browser.newPage();
  await page.addScriptTag({ url: '/bench/browser/wasi.js' });
  await page.waitForFunction(() => window.wasiReady === true);
  const args = ['kernels', '--ignored', '--nocapture', '--test-threads=1', filter];
  const r = await page.evaluate(([url, a]) => window.runWasi(url, a), [`/${relative(ROOT, wasm)}`, args]);
  console.log(r.out);
  if (r.code !== 0) process.exitCode = r.code;
} finally {
  await browser.close();
}
