// Browser benchmark driver: wasm-chord vs wllama in the same headless Chromium (single
// thread, CPU), plus wasm-chord's wasm build under Node and the native CLI with one
// thread, on the same GGUF, prompt (prompt.txt) and generation length. The engines run
// interleaved (A/B, then B/A, ...) ROUNDS times; each browser run gets a fresh page.
// Writes bench/results/browser_<date>.md (table, medians, ratios).
//   node bench/browser/run.mjs        (bench/browser_bench.sh installs what is missing)
// Env: ROUNDS (2), TG (64), MODEL (models/gemma-3-270m-q4_k_m.gguf), CHROMIUM,
//      WASM_CHORD_CLI, VARIANT (relaxed), PROFILE=1 (node --cpu-prof of the Node run, top
//      functions by self time into the report; PROF_PKG: a wasm-bindgen output that keeps
//      function names, made by browser_bench.sh), OUT (report path).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startServer } from '../../web/serve.mjs';
import { topSelfTime } from './profile.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const TG = Number(process.env.TG ?? 64);
const MODEL = resolve(ROOT, process.env.MODEL ?? 'models/gemma-3-270m-q4_k_m.gguf');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CLI = process.env.WASM_CHORD_CLI ?? join(ROOT, 'target', 'release', 'wasm-chord');
const VARIANT = process.env.VARIANT ?? 'relaxed';
const PROFILE = process.env.PROFILE === '1';
const PROMPT_FILE = join(HERE, 'prompt.txt');
const PROMPT = readFileSync(PROMPT_FILE, 'utf8');
const N_CTX = 512;
const date = new Date().toISOString().slice(0, 10);
const OUT = process.env.OUT ?? join(ROOT, 'bench', 'results', `browser_${date}.md`);
const PROF_DIR = join(HERE, 'out', 'prof');

const runs = [];
const note = (r) => {
  runs.push(r);
  const f = (x) => (x == null ? '-' : x.toFixed(1));
  console.log(`${r.engine}: pp ${r.ppTokens} tok ${f(r.ppTps)} tok/s, tg ${r.tgTokens} tok ${f(r.tgTps)} tok/s (${r.finish ?? ''})`);
};

const server = await startServer({ port: 0, root: ROOT, models: join(ROOT, 'models') });
const base = `http://127.0.0.1:${server.address().port}`;
const modelUrl = `/${relative(ROOT, MODEL)}`;
const profile = mkdtempSync(join(tmpdir(), 'wasm-chord-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const browserVersion = context.browser()?.version() ?? spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout.trim();

async function inBrowser(which) {
  const page = await context.newPage();
  const lines = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  try {
    await page.goto(`${base}/bench/browser/index.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
    const opts = { model: modelUrl, prompt: PROMPT, tg: TG, nCtx: N_CTX, variant: VARIANT };
    const r = await page.evaluate((o) => window.bench[o.which](o), { ...opts, which });
    note({ ...r, where: 'chromium' });
  } catch (e) {
    console.error(`${which} in Chromium failed: ${e.message}\n${lines.slice(-20).join('\n')}`);
    throw e;
  } finally {
    await page.close();
  }
}

function inNode(prof) {
  const args = [...(prof ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : []), join(HERE, 'node-bench.mjs'),
    MODEL, PROMPT_FILE, String(TG), VARIANT, String(N_CTX)];
  const env = prof && process.env.PROF_PKG ? { ...process.env, WASM_CHORD_PKG: process.env.PROF_PKG } : process.env;
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`node bench failed: ${r.stderr}`);
  note({ ...JSON.parse(r.stdout.trim().split('\n').at(-1)), where: 'node' });
}

function native(ppTokens) {
  const r = spawnSync(CLI, ['bench', '-m', MODEL, '-p', String(ppTokens), '-n', String(TG), '-t', '1', '-r', '2', '--json'],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`native bench failed: ${r.stderr}`);
  const rows = JSON.parse(r.stdout);
  const pp = rows.find((x) => x.test.startsWith('pp'));
  const tgRow = rows.find((x) => x.test.startsWith('tg'));
  note({ engine: `wasm-chord native 1 thread (${pp.isa})`, where: 'native', ppTokens: pp.n_tokens, ppTps: pp.tokens_per_s,
    tgTokens: tgRow.n_tokens, tgTps: tgRow.tokens_per_s, finish: null });
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['chord', 'wllama'] : ['wllama', 'chord'];
    for (const which of order) await inBrowser(which);
    const ppTokens = runs.find((r) => r.where === 'chromium' && r.engine.startsWith('wasm-chord')).ppTokens;
    if (round % 2 === 0) {
      inNode(false);
      native(ppTokens);
    } else {
      native(ppTokens);
      inNode(false);
    }
  }
  let profText = '';
  if (PROFILE) {
    rmSync(PROF_DIR, { recursive: true, force: true });
    mkdirSync(PROF_DIR, { recursive: true });
    inNode(true);
    runs.pop();
    const file = readdirSync(PROF_DIR).find((f) => f.endsWith('.cpuprofile'));
    profText = topSelfTime(JSON.parse(readFileSync(join(PROF_DIR, file), 'utf8')), 15);
  }
  writeReport(profText);
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function writeReport(profText) {
  const groups = new Map();
  for (const r of runs) {
    const key = `${r.where}: ${r.engine}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const med = (pred, field) => {
    const g = [...groups.entries()].find(([k]) => pred(k));
    return g ? median(g[1].map((r) => r[field])) : NaN;
  };
  const isChord = (k) => k.startsWith('chromium: wasm-chord');
  const isWllama = (k) => k.startsWith('chromium: wllama');
  const isNative = (k) => k.startsWith('native:');
  const isNode = (k) => k.startsWith('node:');
  const ratio = (a, b) => (a / b).toFixed(2);
  const f1 = (x) => x.toFixed(1);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let md = `# Browser benchmark ${date}\n\n`;
  md += `Model \`${basename(MODEL)}\`; prompt \`bench/browser/prompt.txt\` (pp tokens below), tg ${TG} greedy tokens; `;
  md += `single thread everywhere. ${cpu}, ${cpus().length} logical CPUs shared with other jobs; `;
  md += `Chromium ${browserVersion} headless (\`--disable-gpu\`), Node ${process.version}. `;
  md += `${ROUNDS} interleaved rounds (A/B then B/A); each browser run loads the model in a fresh page, `;
  md += `warms up with 8 tokens, then measures one generation; tok/s are the engines' own timings `;
  md += `(wasm-chord \`lastResult.stats\`, wllama \`timings\`, native \`wasm-chord bench -t 1 -r 2\`).\n\n`;
  md += `Command: \`bench/browser_bench.sh\` (ROUNDS=${ROUNDS} TG=${TG} VARIANT=${VARIANT}).\n\n`;
  md += '## Medians\n\n| engine | runs | pp tokens | pp tok/s | tg tok/s |\n|---|---|---|---|---|\n';
  for (const [k, g] of groups) {
    md += `| ${k} | ${g.length} | ${g[0].ppTokens} | ${f1(median(g.map((r) => r.ppTps)))} | ${f1(median(g.map((r) => r.tgTps)))} |\n`;
  }
  md += '\n## Ratios (medians)\n\n| ratio | pp | tg | target |\n|---|---|---|---|\n';
  md += `| wasm-chord Chromium / wllama Chromium | ${ratio(med(isChord, 'ppTps'), med(isWllama, 'ppTps'))} | ${ratio(med(isChord, 'tgTps'), med(isWllama, 'tgTps'))} | >= 1.0 |\n`;
  md += `| wasm-chord Chromium / native 1 thread | ${ratio(med(isChord, 'ppTps'), med(isNative, 'ppTps'))} | ${ratio(med(isChord, 'tgTps'), med(isNative, 'tgTps'))} | >= 0.6 |\n`;
  md += `| wasm-chord Node / native 1 thread | ${ratio(med(isNode, 'ppTps'), med(isNative, 'ppTps'))} | ${ratio(med(isNode, 'tgTps'), med(isNative, 'tgTps'))} | |\n`;
  md += '\n## Every run, in order\n\n| # | where | engine | pp tokens | pp tok/s | tg tokens | tg tok/s | finish |\n|---|---|---|---|---|---|---|---|\n';
  runs.forEach((r, i) => {
    md += `| ${i + 1} | ${r.where} | ${r.engine} | ${r.ppTokens} | ${f1(r.ppTps)} | ${r.tgTokens} | ${f1(r.tgTps)} | ${r.finish ?? ''} |\n`;
  });
  if (profText) md += `\n## Profile: wasm-chord under Node (\`node --cpu-prof\`), top self time\n\n${profText}\n`;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  console.log(`\n${md}\nwrote ${relative(ROOT, OUT)}`);
}
